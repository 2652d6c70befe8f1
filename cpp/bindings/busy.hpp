#pragma once
// One optimizer's lock. A step while another thread is inside a step is a usage error, reported at
// once; everything else (a step while another thread reads or loads state, state_dict, load_state_dict,
// save, load, re-registering parameters) waits for the lock with the GIL released, so a checkpoint
// taken from another thread is never torn. The thread that holds it may take it again for reading (a Python callable schedule, or a
// `with hold()` block), but never for a step: a step inside a step would change the tensors it runs on.
#include <pybind11/pybind11.h>

#include <atomic>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace fastoptim::bind {

class Busy {
 public:
  enum class Mode { step, state };

  void enter(Mode mode) {
    const std::thread::id me = std::this_thread::get_id();
    if (owner_.load() == me) {
      if (mode == Mode::step || stepping_)
        throw std::runtime_error("this optimizer cannot be used from inside its own step() (e.g. by a schedule callable)");
      ++depth_;
      return;
    }
    if (!mutex_.try_lock()) {
      // A step while another thread steps is a usage error; anything else waits its turn.
      if (mode == Mode::step && stepping_.load())
        throw std::runtime_error("this optimizer is already inside step() in another thread");
      pybind11::gil_scoped_release release;
      mutex_.lock();
    }
    owner_.store(me);
    depth_ = 1;
    stepping_ = mode == Mode::step;
  }

  void leave() {
    if (--depth_ > 0) return;
    stepping_ = false;
    owner_.store(std::thread::id());
    mutex_.unlock();
  }

 private:
  std::mutex mutex_;
  std::atomic<std::thread::id> owner_{};
  int depth_ = 0;
  std::atomic<bool> stepping_{false};
};

/// Holds a Busy for one scope.
class BusyGuard {
 public:
  BusyGuard(Busy& busy, Busy::Mode mode) : busy_(busy) { busy_.enter(mode); }
  ~BusyGuard() { busy_.leave(); }
  BusyGuard(const BusyGuard&) = delete;
  BusyGuard& operator=(const BusyGuard&) = delete;

 private:
  Busy& busy_;
};

}  // namespace fastoptim::bind
