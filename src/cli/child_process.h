/* cli/child_process.h — runs the traced program as a child the way a shell would: same
 * terminal, same process group, signals from other processes relayed, exit status mirrored. */
#ifndef VT_CLI_CHILD_PROCESS_H
#define VT_CLI_CHILD_PROCESS_H

/* Runs argv[0] (looked up in PATH) with argv and the current environment, and waits for it.
 * Returns its exit code; 127/126 when it cannot be executed (after printing
 * "<who>: cannot run 'PROGRAM': <reason>"). When the child dies from a signal, the calling
 * process dies from the same signal (returning 128 + signal only if that is impossible). */
int vt_run_child(char *const argv[], const char *who);

/* Called once the child has ended, before vt_run_child exits or returns, with its pid and wait
 * status (NULL: nothing). Call before vt_run_child. */
void vt_at_child_end(void (*at_end)(long pid, int wait_status, void *context), void *context);

/* Relays `signal_number` to the child as well (the live-dump signal). Call before vt_run_child. */
void vt_relay_also(int signal_number);

#endif
