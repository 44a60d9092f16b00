#ifndef DEADLINE_SERVER_DEADLINE_FAN_OUT_H_
#define DEADLINE_SERVER_DEADLINE_FAN_OUT_H_

#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/inlined_vector.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"

namespace deadline {

enum class FanOutMode {
  // errgroup: the first panel that fails cancels the others at once, and
  // its status is the answer.
  kAllOrNothing,
  // Every panel runs to its own end; the answer is OK, each panel with its
  // own result.
  kPartial,
};

// Why the fan-out cancels an attempt. An HTTP/2 cancel carries no cause
// across the wire, so this hop keeps it for its own trace and log.
enum class CancelCause {
  kSiblingFailed,  // all-or-nothing: another panel failed first
  kHedgeLost,      // the other attempt of its panel answered OK first
};

struct FanOutOptions {
  FanOutMode mode = FanOutMode::kAllOrNothing;
  int panels = 1;
  // Panel p's first attempt goes to backend (first_backend + p) % backends;
  // its hedge to the next one.
  int backends = 1;
  int first_backend = 0;
  // Hedging: a panel whose first attempt has not answered after this long
  // gets a second attempt; the first OK wins and the other is cancelled at
  // once. A first attempt that fails sends the hedge at once. Infinite: no
  // hedging.
  absl::Duration hedge_after = absl::InfiniteDuration();
  // No hedge is sent from this time on (too little budget would be left).
  absl::Time hedge_until = absl::InfiniteFuture();
};

// The calls one incoming call makes to its backends, decided in plain C++:
// which attempts to start and when, which to cancel, and when the whole is
// done. Fetch is one panel; FetchAll one panel per requested panel.
//
// Attempt ids: panel p's first attempt is p, its hedge is panels + p.
// Every attempt that starts ends with exactly one Done(); the fan-out is
// over when every started attempt has ended and no hedge timer is left,
// and then `on_done` runs, once, as the last thing FanOut does: it may
// destroy the FanOut.
//
// Thread-safe: Done() may come from any thread, also from inside
// Backends::Start() or Backends::Cancel().
class FanOut {
 public:
  // Where attempts go: the gRPC adapter, or a fake in tests.
  class Backends {
   public:
    virtual ~Backends() = default;
    // Starts `attempt` of `panel` on `backend`.
    virtual void Start(int attempt, int panel, int backend) = 0;
    // Cancels a started attempt, for `cause`; it still ends with Done().
    // May come before Start() of the same attempt has returned.
    virtual void Cancel(int attempt, CancelCause cause) = 0;
  };

  // `backends` and `clock` must outlive the FanOut.
  FanOut(const FanOutOptions& options, Backends& backends, Clock& clock,
         absl::AnyInvocable<void()> on_done);
  FanOut(const FanOut&) = delete;
  FanOut& operator=(const FanOut&) = delete;

  // Starts every panel's first attempt (and its hedge timer). Once.
  void Start();
  // `attempt` has ended with `status`.
  void Done(int attempt, const absl::Status& status);

  const FanOutOptions& options() const { return options_; }
  // How many attempts there can be, hedges included.
  int max_attempts() const;
  int panel_of(int attempt) const { return attempt % options_.panels; }
  bool is_hedge(int attempt) const { return attempt >= options_.panels; }

  // Once `on_done` has run:
  // - the answer: all-or-nothing, OK or the status of the panel that failed
  //   first; partial, OK;
  absl::Status status() const;
  // - the panel that failed first (all-or-nothing), or -1;
  int failed_panel() const;
  // - the attempt whose answer a panel takes: its first OK, else the last
  //   of its attempts to fail;
  int answer_of(int panel) const;
  // - whether an attempt was started.
  bool started(int attempt) const;

 private:
  struct Panel {
    int started = 0;  // Attempts started: 1, or 2 with its hedge.
    int ended = 0;
    bool done = false;
    int answer = -1;
    absl::Status status;
    bool timer_armed = false;
    TimerId timer;
  };
  // What to do once the lock is released.
  struct Actions {
    absl::InlinedVector<int, 2> start;
    absl::InlinedVector<std::pair<int, CancelCause>, 2> cancel;
    bool held = false;      // It holds the fan-out open while it runs.
    bool finished = false;  // on_done is due.
  };

  void HedgeTimer(int panel);
  // Starts panel p's hedge (under the lock; the caller starts it).
  void AddHedge(int panel, Actions& actions) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Disarm(Panel& panel) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Cancels whatever still runs for panels other than `except`.
  void CancelOthers(int except, Actions& actions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  int backend_of(int attempt) const;
  // After a change: holds the fan-out open for `actions`, or sees whether
  // it is over.
  void Hold(Actions& actions) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs `actions` (without the lock); afterwards the FanOut may be gone.
  void Apply(Actions actions);

  const FanOutOptions options_;
  const bool hedging_;
  Backends& backends_;
  Clock& clock_;
  absl::AnyInvocable<void()> on_done_;

  mutable absl::Mutex mu_;
  absl::InlinedVector<Panel, 1> panels_ ABSL_GUARDED_BY(mu_);
  // Attempts in flight, hedge timers armed, and threads running actions.
  int outstanding_ ABSL_GUARDED_BY(mu_) = 0;
  int failed_panel_ ABSL_GUARDED_BY(mu_) = -1;
};

}  // namespace deadline

#endif  // DEADLINE_SERVER_DEADLINE_FAN_OUT_H_
