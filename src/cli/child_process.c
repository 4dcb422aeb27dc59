/* cli/child_process.c — fork + exec of the traced program, signal relaying and exit status
 * mirroring for `vramtrace run`.
 *
 * Signals: the child stays in our process group, so signals the terminal sends to the
 * foreground group (Ctrl-C, Ctrl-\, window resize, hangup: si_code SI_KERNEL) already reach it
 * and are not relayed, as sudo does; signals another process sends to us (kill, systemd,
 * a batch scheduler: SI_USER, SI_QUEUE) are relayed to the child. When the child stops (Ctrl-Z,
 * SIGSTOP, tty input/output) we stop too, so the shell's job control sees the job stopped, and
 * when we are continued we continue the child.
 */
#define _GNU_SOURCE
#include "child_process.h"

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* The last slot holds the live-dump signal (vt_relay_also), so `vramtrace dump` or a plain kill
 * sent to this supervisor reaches the traced program instead of ending us. */
static int relayed_signals[] = {
    SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCONT, SIGTSTP, 0 /* unused until set */,
};
#define RELAYED_SIGNAL_COUNT (sizeof relayed_signals / sizeof relayed_signals[0])

static struct sigaction original_actions[RELAYED_SIGNAL_COUNT];
static bool relay_installed[RELAYED_SIGNAL_COUNT];

void vt_relay_also(int signal_number)
{
    for (size_t i = 0; i + 1 < RELAYED_SIGNAL_COUNT; i++)
        if (relayed_signals[i] == signal_number)
            return; /* already relayed */
    relayed_signals[RELAYED_SIGNAL_COUNT - 1] = signal_number;
}
static volatile sig_atomic_t relay_target_pid; /* 0 while there is no child to relay to */

static void relay_signal_to_child(int signal_number, siginfo_t *info, void *context)
{
    (void)context;
    pid_t child = (pid_t)relay_target_pid;
    if (child <= 0)
        return;
    if (info->si_code == SI_KERNEL)
        return; /* from the terminal: the child, in our process group, got it too */
    if (info->si_code <= 0 && info->si_pid == child)
        return; /* the child signalling us: relaying would bounce it back */
    int saved_errno = errno;
    kill(child, signal_number);
    errno = saved_errno;
}

static void install_relays(void)
{
    struct sigaction relay = {0};
    relay.sa_sigaction = relay_signal_to_child;
    relay.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&relay.sa_mask);
    for (size_t i = 0; i < RELAYED_SIGNAL_COUNT; i++)
        if (relayed_signals[i])
            sigaddset(&relay.sa_mask, relayed_signals[i]);
    for (size_t i = 0; i < RELAYED_SIGNAL_COUNT; i++) {
        if (!relayed_signals[i])
            continue;
        sigaction(relayed_signals[i], NULL, &original_actions[i]);
        /* An ignored signal (nohup, a background job's SIGINT) stays ignored, for the child too. */
        relay_installed[i] = original_actions[i].sa_handler != SIG_IGN;
        if (relay_installed[i])
            sigaction(relayed_signals[i], &relay, NULL);
    }
}

static void restore_original_actions(void)
{
    for (size_t i = 0; i < RELAYED_SIGNAL_COUNT; i++)
        if (relay_installed[i])
            sigaction(relayed_signals[i], &original_actions[i], NULL);
}

static void block_relayed_signals(sigset_t *previous_mask)
{
    sigset_t relayed;
    sigemptyset(&relayed);
    for (size_t i = 0; i < RELAYED_SIGNAL_COUNT; i++)
        if (relayed_signals[i])
            sigaddset(&relayed, relayed_signals[i]);
    sigprocmask(SIG_BLOCK, &relayed, previous_mask);
}

static _Noreturn void exec_in_child(char *const argv[], const char *who, const sigset_t *original_mask)
{
    restore_original_actions();
    sigprocmask(SIG_SETMASK, original_mask, NULL);
    execvp(argv[0], argv);
    int exec_errno = errno;
    fprintf(stderr, "%s: cannot run '%s': %s\n", who, argv[0], strerror(exec_errno));
    _exit(exec_errno == ENOENT || exec_errno == ENOTDIR ? 127 : 126);
}

/* The child stopped with stop_signal: stop ourselves the same way, then continue the child. */
static void stop_with_child(pid_t child, int stop_signal)
{
    if (stop_signal == SIGTSTP) {
        struct sigaction default_action = {0}, relay_action;
        default_action.sa_handler = SIG_DFL;
        sigemptyset(&default_action.sa_mask);
        sigaction(SIGTSTP, &default_action, &relay_action);
        raise(SIGTSTP); /* discarded by the kernel if our process group is orphaned */
        sigaction(SIGTSTP, &relay_action, NULL);
    } else if (stop_signal == SIGTTIN || stop_signal == SIGTTOU) {
        raise(stop_signal);
    } else {
        raise(SIGSTOP);
    }
    kill(child, SIGCONT);
}

static _Noreturn void die_from_signal(int signal_number)
{
    fflush(NULL);
    prctl(PR_SET_DUMPABLE, 0); /* the child already dumped core if it was going to */
    struct sigaction default_action = {0};
    default_action.sa_handler = SIG_DFL;
    sigemptyset(&default_action.sa_mask);
    sigaction(signal_number, &default_action, NULL);
    sigset_t just_this;
    sigemptyset(&just_this);
    sigaddset(&just_this, signal_number);
    sigprocmask(SIG_UNBLOCK, &just_this, NULL);
    raise(signal_number);
    exit(128 + signal_number); /* a signal whose default action does not terminate */
}

static void (*child_end_callback)(long pid, int wait_status, void *context);
static void *child_end_context;

void vt_at_child_end(void (*at_end)(long pid, int wait_status, void *context), void *context)
{
    child_end_callback = at_end;
    child_end_context = context;
}

int vt_run_child(char *const argv[], const char *who)
{
    sigset_t original_mask;
    /* Blocked across fork so that a signal arriving before the child's pid is known is relayed
     * as soon as it is, instead of being lost. */
    block_relayed_signals(&original_mask);
    install_relays();

    fflush(NULL);
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "%s: cannot start '%s': %s\n", who, argv[0], strerror(errno));
        restore_original_actions();
        sigprocmask(SIG_SETMASK, &original_mask, NULL);
        return 126;
    }
    if (child == 0)
        exec_in_child(argv, who, &original_mask);

    relay_target_pid = child;
    sigprocmask(SIG_SETMASK, &original_mask, NULL);

    int status;
    for (;;) {
        pid_t waited = waitpid(child, &status, WUNTRACED);
        if (waited < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: cannot wait for '%s': %s\n", who, argv[0], strerror(errno));
            return 126;
        }
        if (WIFSTOPPED(status)) {
            stop_with_child(child, WSTOPSIG(status));
            continue;
        }
        break;
    }

    relay_target_pid = 0;
    restore_original_actions();
    if (child_end_callback)
        child_end_callback((long)child, status, child_end_context);
    if (WIFSIGNALED(status))
        die_from_signal(WTERMSIG(status));
    return WEXITSTATUS(status);
}
