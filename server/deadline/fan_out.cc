#include "server/deadline/fan_out.h"

#include <utility>

namespace deadline {

FanOut::FanOut(const FanOutOptions& options, Backends& backends, Clock& clock,
               absl::AnyInvocable<void()> on_done)
    : options_(options),
      hedging_(options.hedge_after != absl::InfiniteDuration()),
      backends_(backends),
      clock_(clock),
      on_done_(std::move(on_done)) {
  absl::MutexLock lock(&mu_);
  panels_.resize(options.panels);
}

int FanOut::max_attempts() const {
  return hedging_ ? 2 * options_.panels : options_.panels;
}

int FanOut::backend_of(int attempt) const {
  const int panel = panel_of(attempt);
  return (options_.first_backend + panel + (is_hedge(attempt) ? 1 : 0)) %
         options_.backends;
}

void FanOut::Start() {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    const absl::Time hedge_at = clock_.Now() + options_.hedge_after;
    for (int p = 0; p < options_.panels; ++p) {
      Panel& panel = panels_[p];
      panel.started = 1;
      ++outstanding_;
      actions.start.push_back(p);
      if (hedging_ && hedge_at < options_.hedge_until) {
        panel.timer_armed = true;
        ++outstanding_;
        panel.timer = clock_.RunAt(hedge_at, [this, p] { HedgeTimer(p); });
      }
    }
    Hold(actions);
  }
  Apply(std::move(actions));
}

void FanOut::Done(int attempt, const absl::Status& status) {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    --outstanding_;
    const int p = panel_of(attempt);
    Panel& panel = panels_[p];
    ++panel.ended;
    if (!panel.done) {
      if (status.ok()) {
        // The first OK wins; a hedge still running is cancelled at once.
        panel.done = true;
        panel.answer = attempt;
        panel.status = status;
        Disarm(panel);
        if (panel.started == 2) {
          actions.cancel.push_back({attempt == p ? options_.panels + p : p,
                                    CancelCause::kHedgeLost});
        }
      } else if (hedging_ && panel.started == 1 && failed_panel_ < 0 &&
                 clock_.Now() < options_.hedge_until) {
        // A first attempt that fails sends the hedge at once.
        panel.answer = attempt;
        panel.status = status;
        AddHedge(p, actions);
      } else {
        panel.answer = attempt;
        panel.status = status;
        if (panel.ended == panel.started) {
          panel.done = true;
          Disarm(panel);
          if (options_.mode == FanOutMode::kAllOrNothing && failed_panel_ < 0) {
            failed_panel_ = p;
            CancelOthers(p, actions);
          }
        }
      }
    }
    Hold(actions);
  }
  Apply(std::move(actions));
}

void FanOut::HedgeTimer(int p) {
  Actions actions;
  {
    absl::MutexLock lock(&mu_);
    --outstanding_;
    Panel& panel = panels_[p];
    if (panel.timer_armed) {
      panel.timer_armed = false;
      if (!panel.done && panel.started == 1 && failed_panel_ < 0 &&
          clock_.Now() < options_.hedge_until) {
        AddHedge(p, actions);
      }
    }
    Hold(actions);
  }
  Apply(std::move(actions));
}

void FanOut::AddHedge(int p, Actions& actions) {
  Panel& panel = panels_[p];
  Disarm(panel);
  panel.started = 2;
  ++outstanding_;
  actions.start.push_back(options_.panels + p);
}

void FanOut::Disarm(Panel& panel) {
  if (!panel.timer_armed) return;
  panel.timer_armed = false;
  // If the timer is running now, it finds the panel disarmed and only
  // gives back its count.
  if (clock_.CancelTimer(panel.timer)) --outstanding_;
}

void FanOut::CancelOthers(int except, Actions& actions) {
  for (int p = 0; p < options_.panels; ++p) {
    Panel& panel = panels_[p];
    if (p == except || panel.done) continue;
    Disarm(panel);
    actions.cancel.push_back({p, CancelCause::kSiblingFailed});
    if (panel.started == 2) {
      actions.cancel.push_back(
          {options_.panels + p, CancelCause::kSiblingFailed});
    }
  }
}

void FanOut::Hold(Actions& actions) {
  if (actions.start.empty() && actions.cancel.empty()) {
    actions.finished = outstanding_ == 0;
    return;
  }
  // Whoever has actions to run holds the fan-out open until they have run:
  // another thread may meanwhile end the last attempt.
  actions.held = true;
  ++outstanding_;
}

void FanOut::Apply(Actions actions) {
  for (int attempt : actions.start) {
    backends_.Start(attempt, panel_of(attempt), backend_of(attempt));
  }
  for (const auto& [attempt, cause] : actions.cancel) {
    backends_.Cancel(attempt, cause);
  }
  if (actions.held) {
    absl::MutexLock lock(&mu_);
    actions.finished = --outstanding_ == 0;
  }
  if (actions.finished) on_done_();
}

absl::Status FanOut::status() const {
  absl::MutexLock lock(&mu_);
  if (options_.mode == FanOutMode::kPartial || failed_panel_ < 0) {
    return absl::OkStatus();
  }
  return panels_[failed_panel_].status;
}

int FanOut::failed_panel() const {
  absl::MutexLock lock(&mu_);
  return failed_panel_;
}

int FanOut::answer_of(int panel) const {
  absl::MutexLock lock(&mu_);
  return panels_[panel].answer;
}

bool FanOut::started(int attempt) const {
  absl::MutexLock lock(&mu_);
  const Panel& panel = panels_[panel_of(attempt)];
  return is_hedge(attempt) ? panel.started == 2 : panel.started >= 1;
}

}  // namespace deadline
