/*
 * t/sniff_kit.h: what the Check suites of the peekers share
 * (t/check_sniff.c, t/check_tls_hello.c, t/check_http_head.c): a call that
 * hands a parser a heap buffer of the exact size (so ASan sees any read past
 * it) and checks the result's contract, the prefix walk that checks "final
 * answers never change", and the capture loader.
 */
#ifndef WHITELIST_T_SNIFF_KIT_H
#define WHITELIST_T_SNIFF_KIT_H

#include <stddef.h>
#include <stdint.h>

#include "sniff.h"

typedef int (*kit_parser)(const uint8_t *data, size_t len, struct sniff_result *out);

/* A status as text, for messages. */
const char *kit_status(int status);

/*
 * Calls parse on a copy of data[0..len) in a buffer of exactly len bytes,
 * out poisoned first, and checks the contract of any answer: a known
 * status; with SNIFF_FOUND a normalized name of 1-253 characters, NUL
 * inside the array; with anything else "" ; proto NONE with NOT_THIS.
 */
int kit_call(kit_parser parse, const uint8_t *data, size_t len, struct sniff_result *out);

/*
 * Feeds every prefix data[0..k), k = 0..len, as a client dribbling its
 * bytes would: each answer is SNIFF_NEED_MORE until some k, then the same
 * final answer (status and name) up to k = len, which must be want (and
 * want_name with SNIFF_FOUND). Returns that first final k (len + 1 when
 * want is SNIFF_NEED_MORE). want_name NULL: any valid name. what names
 * the case in messages.
 */
size_t kit_stream(kit_parser parse, const char *what, const uint8_t *data, size_t len, int want,
		  const char *want_name);

/* After a final answer, more bytes (of several kinds) never change it. */
void kit_extended(kit_parser parse, const char *what, const uint8_t *data, size_t len);

/*
 * Wraps the handshake message msg[0..len) in TLS handshake records of frag
 * bytes each (the last may be shorter; 0: one record) with the given record
 * version, into out; returns the wire size (fails the test past size).
 */
size_t kit_records(const uint8_t *msg, size_t len, size_t frag, uint16_t version, uint8_t *out,
		   size_t size);

/* Reads CAPTURE_DIR/name into buf; returns its size (fails the test when missing). */
size_t kit_load(const char *name, uint8_t *buf, size_t size);

#endif
