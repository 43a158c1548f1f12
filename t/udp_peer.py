#!/usr/bin/env python3
"""A UDP peer for the tests: `echo` answers each datagram with itself, `sink`
only records it, `answer` records it and answers "ack". Every datagram is
logged as "source-ip source-port length sha256" to LOG, one line each."""
import hashlib
import socket
import sys


def main():
    mode, addr, port, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    sock = socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((addr, port))
    with open(log, "a", buffering=1) as out:
        while True:
            data, source = sock.recvfrom(65535)
            out.write("%s %d %d %s\n" % (source[0], source[1], len(data),
                                         hashlib.sha256(data).hexdigest()))
            if mode == "echo":
                sock.sendto(data, source)
            elif mode == "answer":
                sock.sendto(b"ack", source)


if __name__ == "__main__":
    main()
