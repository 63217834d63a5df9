/* tst_states.c - a project's known states: when the list counts as complete, and the hint for a typo */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "libsync.h"
#include "libutil.h"
#include "tap.h"

int
main(void)
{
	struct project_rec p;
	const int64_t now = 1800000000;
	char *h;

	memset(&p, 0, sizeof(p));
	p.id = 1;
	p.link_name = (char *)(uintptr_t)"alpha";
	p.states_seen = (char *)(uintptr_t)"new;under-review;accepted;rejected";

	ok(!sync_state_unknown(&p, "acepted", now), "never listed: an unknown state is no typo (sent once)");
	p.states_listed = now - 60;
	ok(sync_state_unknown(&p, "acepted", now), "listed a minute ago: an unknown state is a typo");
	ok(!sync_state_unknown(&p, "accepted", now), "a known state is none");
	ok(!sync_state_unknown(&p, "new", now), "the first state of the list is known");
	ok(!sync_state_unknown(&p, "rejected", now), "the last state of the list is known");
	ok(sync_state_unknown(&p, "under", now), "a prefix of a known state is unknown");
	ok(sync_state_unknown(&p, "under-review;new", now), "two names joined are unknown");
	ok(!sync_state_unknown(&p, "", now), "no state is no typo");
	p.states_listed = now - SYNC_STATES_FRESH;
	ok(sync_state_unknown(&p, "acepted", now), "listed a week ago to the second: still complete");
	p.states_listed = now - SYNC_STATES_FRESH - 1;
	ok(!sync_state_unknown(&p, "acepted", now), "listed longer ago: asked again (sent once)");

	h = sync_state_hint(&p, "acepted");
	is_str(h, "no such state in alpha; did you mean pw/alpha/accepted?", "hint: the nearest state");
	free(h);
	h = sync_state_hint(&p, "rejectd");
	is_str(h, "no such state in alpha; did you mean pw/alpha/rejected?", "hint: a letter missing");
	free(h);
	h = sync_state_hint(&p, "zzzzzzzz");
	is_str(h, "no such state in alpha; 'pwnm states alpha' lists them", "hint: none near");
	free(h);
	p.states_seen = (char *)(uintptr_t)"";
	h = sync_state_hint(&p, "acepted");
	is_str(h, "no such state in alpha; 'pwnm states alpha' lists them", "hint: no state known");
	free(h);
	return tap_done();
}
