#include "server/deadline/worker_pool.h"

#include <vector>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace deadline {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kLong = absl::Seconds(10);

// Occupies the pool's one worker until released.
class BusyWorker {
 public:
  explicit BusyWorker(WorkerPool& pool) {
    EXPECT_TRUE(pool.Submit([this] {
                      started_.Notify();
                      release_.WaitForNotification();
                    })
                    .ok());
    EXPECT_TRUE(started_.WaitForNotificationWithTimeout(kLong));
  }
  ~BusyWorker() { Release(); }
  void Release() {
    if (!release_.HasBeenNotified()) release_.Notify();
  }

 private:
  absl::Notification started_;
  absl::Notification release_;
};

TEST(WorkerPoolTest, RunsTasksFirstInFirstOut) {
  WorkerPool pool(1, 10);
  std::vector<int> order;
  absl::BlockingCounter done(3);
  {
    BusyWorker busy(pool);
    for (int i = 0; i < 3; ++i) {
      ASSERT_TRUE(pool.Submit([&order, &done, i] {
                        order.push_back(i);
                        done.DecrementCount();
                      })
                      .ok());
    }
    EXPECT_EQ(pool.queue_depth(), 3);
  }
  done.Wait();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST(WorkerPoolTest, RefusesAtOnceWhenTheQueueIsFullNamingTheBound) {
  WorkerPool pool(1, 2);
  BusyWorker busy(pool);
  ASSERT_TRUE(pool.Submit([] {}).ok());
  ASSERT_TRUE(pool.Submit([] {}).ok());
  bool ran = false;
  const absl::StatusOr<WorkerPool::TaskId> refused =
      pool.Submit([&ran] { ran = true; });
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(), HasSubstr("--max_queue=2"));
  EXPECT_EQ(pool.queue_depth(), 2);
  busy.Release();
  while (pool.queue_depth() > 0) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_FALSE(ran);
}

TEST(WorkerPoolTest, RefusesANewcomerTheQueuedWorkWouldMakeLate) {
  using absl::Milliseconds;
  WorkerPool pool(2, 100);
  // Both workers busy (their cost, none, counts while they run), so what
  // is queued stays queued.
  BusyWorker busy1(pool);
  BusyWorker busy2(pool);
  // 300 ms of work waits: 150 ms per worker.
  ASSERT_TRUE(pool.Submit([] {}, Milliseconds(100)).ok());
  ASSERT_TRUE(pool.Submit([] {}, Milliseconds(200)).ok());
  // 150 ms of wait + 60 ms of work fits in 210 ms, not in 200 ms.
  EXPECT_TRUE(pool.Submit([] {}, Milliseconds(60), Milliseconds(210)).ok());
  const absl::StatusOr<WorkerPool::TaskId> refused =
      pool.Submit([] {}, Milliseconds(60), Milliseconds(239));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("3 calls wait with 180ms of work per worker "
                        "(2 workers), and this call's 60ms of work has "
                        "239ms left"));
  // Work that cannot finish in its time anyway is taken if it would start,
  // and holds a worker for no longer than its time.
  EXPECT_TRUE(pool.Submit([] {}, Milliseconds(900), Milliseconds(200)).ok());
  EXPECT_TRUE(pool.Submit([] {}, Milliseconds(900), Milliseconds(300)).ok());
  EXPECT_FALSE(pool.Submit([] {}, Milliseconds(900), Milliseconds(250)).ok());
  EXPECT_EQ(pool.queue_depth(), 5);
}

TEST(WorkerPoolTest, TheQueuedCostLeavesWithTheTask) {
  using absl::Milliseconds;
  WorkerPool pool(1, 100);
  absl::StatusOr<WorkerPool::TaskId> removed;
  {
    BusyWorker busy(pool);
    removed = pool.Submit([] {}, Milliseconds(500));
    ASSERT_TRUE(removed.ok());
    EXPECT_FALSE(pool.Submit([] {}, Milliseconds(10), Milliseconds(400)).ok());
    // Taken back, its cost no longer delays anyone.
    EXPECT_TRUE(pool.Remove(*removed));
    EXPECT_TRUE(pool.Submit([] {}, Milliseconds(10), Milliseconds(400)).ok());
    EXPECT_TRUE(pool.Submit([] {}, Milliseconds(300)).ok());
  }
  // Run by a worker, the same, once it has run.
  const absl::Time give_up = absl::Now() + kLong;
  while (!pool.Submit([] {}, Milliseconds(10), Milliseconds(20)).ok()) {
    ASSERT_LT(absl::Now(), give_up) << "the run tasks' cost never left";
    absl::SleepFor(Milliseconds(1));
  }
}

TEST(WorkerPoolTest, ARunningTaskCountsUntilItEnds) {
  using absl::Milliseconds;
  WorkerPool pool(1, 100);
  absl::Notification started, release;
  ASSERT_TRUE(pool.Submit(
                      [&] {
                        started.Notify();
                        release.WaitForNotification();
                      },
                      Milliseconds(500))
                  .ok());
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kLong));
  EXPECT_EQ(pool.queue_depth(), 0);
  const absl::StatusOr<WorkerPool::TaskId> refused =
      pool.Submit([] {}, Milliseconds(10), Milliseconds(400));
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(),
              HasSubstr("0 calls wait with 500ms of work per worker"));
  release.Notify();
}

TEST(WorkerPoolTest, ARemovedTaskNeverRunsAndFreesItsPlace) {
  WorkerPool pool(1, 1);
  absl::Notification later;
  bool removed_ran = false;
  {
    BusyWorker busy(pool);
    const absl::StatusOr<WorkerPool::TaskId> id =
        pool.Submit([&removed_ran] { removed_ran = true; });
    ASSERT_TRUE(id.ok());
    EXPECT_TRUE(pool.Remove(*id));
    EXPECT_FALSE(pool.Remove(*id));
    EXPECT_EQ(pool.queue_depth(), 0);
    ASSERT_TRUE(pool.Submit([&later] { later.Notify(); }).ok());
  }
  ASSERT_TRUE(later.WaitForNotificationWithTimeout(kLong));
  EXPECT_FALSE(removed_ran);
}

TEST(WorkerPoolTest, ATaskAlreadyTakenCannotBeRemoved) {
  WorkerPool pool(1, 1);
  absl::Notification started;
  absl::Notification release;
  const absl::StatusOr<WorkerPool::TaskId> id = pool.Submit([&] {
    started.Notify();
    release.WaitForNotification();
  });
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(kLong));
  EXPECT_FALSE(pool.Remove(*id));
  release.Notify();
}

TEST(WorkerPoolTest, ResumedWorkGoesAheadOfNewcomersBeyondTheBound) {
  WorkerPool pool(1, 1);
  std::vector<int> order;
  absl::BlockingCounter done(3);
  {
    BusyWorker busy(pool);
    ASSERT_TRUE(pool.Submit([&] {
                      order.push_back(1);
                      done.DecrementCount();
                    })
                    .ok());
    pool.Resume([&] {
      order.push_back(0);
      done.DecrementCount();
    });
    pool.Resume([&] {
      order.push_back(-1);
      done.DecrementCount();
    });
    EXPECT_EQ(pool.queue_depth(), 3);
  }
  done.Wait();
  EXPECT_EQ(order, (std::vector<int>{-1, 0, 1}));
}

TEST(WorkerPoolTest, TasksRunOnAllWorkersAtOnce) {
  WorkerPool pool(3, 10);
  absl::BlockingCounter all_running(3);
  absl::Notification release;
  absl::BlockingCounter finished(3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(pool.Submit([&] {
                      all_running.DecrementCount();
                      release.WaitForNotification();
                      finished.DecrementCount();
                    })
                    .ok());
  }
  all_running.Wait();  // Would hang if fewer than 3 ran at once.
  release.Notify();
  finished.Wait();
}

}  // namespace
}  // namespace deadline
