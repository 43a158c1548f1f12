/*
 * t/check.h: the Check suites, one per module, that t/check_main.c runs.
 * A new suite goes into this list and into check_main.c's table.
 */
#ifndef WHITELIST_T_CHECK_H
#define WHITELIST_T_CHECK_H

#include <check.h>

Suite *addr_suite(void);
Suite *config_suite(void);
Suite *config_ports_suite(void);
Suite *guard_suite(void);
Suite *healthcheck_suite(void);
Suite *http_head_suite(void);
Suite *log_suite(void);
Suite *metrics_suite(void);
Suite *policy_suite(void);
Suite *process_suite(void);
Suite *proxy_head_suite(void);
Suite *relay_suite(void);
Suite *resolve_suite(void);
Suite *session_suite(void);
Suite *shared_suite(void);
Suite *slots_suite(void);
Suite *sniff_suite(void);
Suite *tls_hello_suite(void);
Suite *udp_batch_suite(void);
Suite *udp_handover_suite(void);

#endif
