#ifndef DEADLINE_COMMON_SIGNALS_H_
#define DEADLINE_COMMON_SIGNALS_H_

namespace deadline {

// Restores the default action of SIGINT and SIGTERM (a shell may have set
// them to be ignored) and blocks them in the calling thread, and so in every
// thread it starts afterwards. Call first thing in main(), before gRPC starts
// threads, then take the signals synchronously with WaitForTerminationSignal():
// no signal handler runs, so shutdown code may lock, allocate and call gRPC.
void BlockTerminationSignals();

// Waits until SIGINT or SIGTERM arrives and returns its number.
int WaitForTerminationSignal();

}  // namespace deadline

#endif  // DEADLINE_COMMON_SIGNALS_H_
