/*
 * policy.h: POLICY, which clients may reach which TARGET entries. Several
 * apps share one proxy and each reaches only its own hosts.
 *
 *   POLICY="billing = api.stripe.com; web 198.18.1.0/24 = fonts.example.com"
 *
 * One rule a line (or ';'-separated): CLIENTS = ENTRIES. A client is a host
 * name (a compose service or container name), an IP, a CIDR, or user:NAME
 * (a PROXY_USERS name, CONNECT mode); an entry is a TARGET entry as written
 * there. An entry some rule names is reachable only by its rules' clients;
 * an entry no rule names stays open to whoever ALLOW_FROM admits.
 *
 * The parser and the matcher are pure: host names' addresses are not
 * resolved here but looked up through a policy_names view (names.h: they
 * are looked up every POLICY_REFRESH_S into shared memory, where listeners
 * and relays read them), so a decision makes no lookup. The host
 * names of ALLOW_FROM join the same list, so they are refreshed alike.
 */
#ifndef WHITELIST_POLICY_H
#define WHITELIST_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define POLICY_MAX_CLIENTS 32	/* distinct clients over all rules: the metrics' label values */
#define POLICY_MAX_GRANTS 64 	/* (client, entry) pairs over all rules */
#define POLICY_MAX_NAMES 32	/* host names of POLICY and ALLOW_FROM together */
#define POLICY_NAME_SIZE (DNS_MAX_NAME + 1)
#define POLICY_CLIENT_SIZE (POLICY_NAME_SIZE + 5)	/* "user:" + a name */
#define POLICY_REFRESH_S 30	/* host names are looked up again this often */

enum policy_client_kind {
	POLICY_CLIENT_NET,	/* an IP or CIDR */
	POLICY_CLIENT_NAME,	/* a host name: its addresses in names[name] */
	POLICY_CLIENT_USER,	/* user:NAME, a PROXY_USERS name */
};

struct policy_client {
	enum policy_client_kind kind;
	struct conf_net net;		/* NET */
	unsigned name;			/* NAME: index in policy.names */
	char text[POLICY_CLIENT_SIZE];	/* as written (a name in lower case): logs, metrics */
};

/* A rule's client may reach a TARGET entry. */
struct policy_grant {
	uint8_t client;			/* index in policy.clients */
	uint8_t entry;			/* index of the TARGET entry (conf_entry_index) */
};

struct policy {
	const char *text;		/* POLICY as given; NULL when empty (no policy) */
	uint32_t named;			/* bit i: entry i is named by a rule (closed to others) */
	size_t nclients, ngrants, nnames;
	struct policy_client clients[POLICY_MAX_CLIENTS];
	struct policy_grant grants[POLICY_MAX_GRANTS];
	char names[POLICY_MAX_NAMES][POLICY_NAME_SIZE];	/* lower case, unique */
	uint32_t allow_names;		/* bit i: names[i] is a word of ALLOW_FROM */
};

/*
 * How a decision learns a host name's current addresses: has(ctx, name,
 * addr) is 1 when addr (a /32 or /128) is one of names[name]'s. The proxy's
 * reads shared memory (shared_client_name_has); tests give a table.
 */
struct policy_names {
	int (*has)(const void *ctx, unsigned name, const struct conf_net *addr);
	const void *ctx;
};

/*
 * Parses POLICY (text may be NULL or blank: no policy) against conf's TARGET
 * entries, and gathers ALLOW_FROM's host names into names too. 0, or -1
 * with one line in err naming POLICY (or ALLOW_FROM) and the part that is
 * wrong: an entry not in TARGET, a client that is neither a host name, an
 * IP, a CIDR nor user:NAME, an empty side, a rule without '=', too many.
 */
int policy_parse(struct policy *policy, const char *text, const struct conf *conf, char *err,
		 size_t errsize);

/* What policy_allows() decided. */
enum policy_decision {
	POLICY_OPEN = -1,	/* no rule names the entry: whoever ALLOW_FROM admits */
	POLICY_REFUSED = -2,	/* rules name the entry, and none of their clients is this one */
	/* >= 0: the grant (index in grants) that lets the client through */
};

/*
 * The decision for one connection: client's address (a /32 or /128, a v4
 * client of the dual-stack socket as v4), the proxy user it authenticated
 * as or NULL, and the TARGET entry it asks for. policy NULL: POLICY_OPEN;
 * loopback (the proxy's own container: the healthcheck) too, as ALLOW_FROM.
 * Makes no lookup and no system call: what routed mode, classic mode and
 * CONNECT mode each call.
 */
int policy_allows(const struct policy *policy, const struct policy_names *names,
		  const struct conf_net *client, const char *user, int entry);

/*
 * The first client of the policy this one is (for a refusal's log line:
 * "198.18.1.3 (web)"), or -1 when it is none of them.
 */
int policy_client_of(const struct policy *policy, const struct policy_names *names,
		     const struct conf_net *client, const char *user);

/*
 * ALLOW_FROM's host names: 1 when client is at an address of one of them.
 * The networks of ALLOW_FROM are conf_allow_match's.
 */
int policy_allow_from_names(const struct policy *policy, const struct policy_names *names,
			    const struct conf_net *client);

/*
 * user:NAME rules against the users CONNECT mode knows (PROXY_USERS): -1
 * with err naming POLICY and the first user that is not one of users[0..n).
 * To be called once PROXY_USERS exists (branch connect): a user: rule
 * without such a user could never match.
 */
int policy_check_users(const struct policy *policy, const char *const *users, size_t nusers,
		       char *err, size_t errsize);

#endif
