#!/usr/bin/env python3
"""A hostile DNS responder for the tests (UDP, one address).

  tricky DECOY TRUE   answers each query three times: first with a wrong ID
                      (address DECOY), then with the right ID but another
                      question (DECOY again), then truthfully (TRUE).
  loop                answers with a record whose owner name is a compression
                      pointer to itself.
  refuse-a ADDR6      answers A queries REFUSED and AAAA queries with ADDR6, as
                      dnsmasq without upstreams does for a name with only AAAA.
Every query received is appended to LOG as "qname qtype".
"""
import socket
import struct
import sys


def parse_question(packet):
    labels, pos = [], 12
    while packet[pos]:
        length = packet[pos]
        labels.append(packet[pos + 1:pos + 1 + length].decode())
        pos += 1 + length
    qtype, qclass = struct.unpack("!HH", packet[pos + 1:pos + 5])
    return ".".join(labels), qtype, packet[12:pos + 5]


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def reply(query_id, question, answers, rcode=0, ttl=60):
    """A reply with QR/RD/RA set, one question and the given answers: A records
    for IPv4 addresses, AAAA records for IPv6 ones (the tests' one DNS builder)."""
    header = struct.pack("!HHHHHH", query_id, 0x8180 | rcode, 1, len(answers), 0, 0)
    body = question
    for address in answers:
        family, rtype = (socket.AF_INET6, 28) if ":" in address else (socket.AF_INET, 1)
        data = socket.inet_pton(family, address)
        body += struct.pack("!HHHIH", 0xC00C, rtype, 1, ttl, len(data)) + data
    return header + body


def loop_reply(query_id, question):
    """The answer's name is a pointer to its own offset: a loop."""
    header = struct.pack("!HHHHHH", query_id, 0x8180, 1, 1, 0, 0)
    offset = 12 + len(question)
    record = struct.pack("!H", 0xC000 | offset) + struct.pack("!HHIH", 1, 1, 60, 4)
    return header + question + record + socket.inet_aton("198.18.2.99")


def main():
    mode, addr, log = sys.argv[1], sys.argv[2], sys.argv[3]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((addr, 53))
    with open(log, "a", buffering=1) as out:
        while True:
            packet, source = sock.recvfrom(4096)
            query_id = struct.unpack("!H", packet[:2])[0]
            name, qtype, question = parse_question(packet)
            out.write("%s %d\n" % (name, qtype))
            if mode == "loop":
                sock.sendto(loop_reply(query_id, question), source)
                continue
            if mode == "refuse-a":
                answer = reply(query_id, question, [sys.argv[4]]) if qtype == 28 else \
                    reply(query_id, question, [], rcode=5)
                sock.sendto(answer, source)
                continue
            decoy, true = sys.argv[4], sys.argv[5]
            if qtype != 1:
                sock.sendto(reply(query_id, question, []), source)
                continue
            other = encode_name("decoy." + name) + struct.pack("!HH", 1, 1)
            sock.sendto(reply(query_id ^ 0x5555, question, [decoy]), source)
            sock.sendto(reply(query_id, other, [decoy]), source)
            sock.sendto(reply(query_id, question, [true]), source)


if __name__ == "__main__":
    main()
