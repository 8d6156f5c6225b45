/* SPDX-License-Identifier: Apache-2.0 */
/* Test seams: places where the suite stops nodeseal to change the world or kill it. */
#pragma once

/* NODESEAL_TEST_PAUSE_AT=<step> stops the process (SIGSTOP) at that step, so a test can change
 * what nodeseal acts on (re-point a path, edit a Secret) or kill it there, at a known moment. It
 * only ever pauses; without the variable it does nothing. */
void seam_pause(const char *step);

/* NODESEAL_TEST_KILL_AT=<step> makes the process SIGKILL itself right after that step, so the suite
 * can prove that a rerun converges from every intermediate state. */
void seam_kill(const char *step);
