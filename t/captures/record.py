#!/usr/bin/env python3
"""t/captures/record.py: records the first flight of real clients, the
fixtures of t/check_sniff.c (routed mode's peekers).

A listener on 127.0.0.1 accepts one connection per client, reads what the
client sends first (a whole TLS ClientHello, or an HTTP head up to its empty
line; or whatever came before a second of silence), closes it and writes the
bytes to t/captures/NAME.bin. It never answers, so the clients give up; each
one is killed after a bounded wait. Names are made to resolve to 127.0.0.1
with the clients' own options (curl --resolve, s_client -connect).

Usage: t/captures/record.py [NAME...]   (default: every capture)
The bytes differ at every run (randoms, key shares, session IDs); the names
and the structure t/check_sniff.c expects do not. Needs openssl, curl and
python3's ssl module.
"""
import os
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_BYTES = 16384  # SNIFF_MAX_PEEK
IDLE_S = 1.0
ACCEPT_S = 10.0

PY_TLS = """
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
name = sys.argv[2] or None
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
try:
    ctx.wrap_socket(sock, server_hostname=name)
except OSError:
    pass
"""


def clients(port):
    """NAME -> argv of the client that sends it."""
    s_client = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}"]
    curl = ["curl", "-s", "-k", "--max-time", "5"]
    py = [sys.executable, "-c", PY_TLS, str(port)]
    return {
        "openssl_tls12_sni": s_client + ["-tls1_2", "-servername", "tls12.example.com"],
        "openssl_tls12_nosni": s_client + ["-tls1_2", "-noservername"],
        "openssl_tls13_sni": s_client + ["-tls1_3", "-servername", "tls13.example.com"],
        "openssl_tls13_nosni": s_client + ["-tls1_3", "-noservername"],
        "openssl_upper_dot": s_client + ["-servername", "Mixed.Example.COM."],
        "curl_https": curl + ["--resolve", f"curl.example.net:{port}:127.0.0.1",
                              f"https://curl.example.net:{port}/"],
        "python_sni": py + ["py.example.org"],
        "python_nosni": py + [""],
        "curl_http11": curl + ["--resolve", f"plain.example.net:{port}:127.0.0.1",
                               f"http://plain.example.net:{port}/path?q=1"],
        "curl_http10": curl + ["--http1.0", "--resolve", f"old.example.net:{port}:127.0.0.1",
                               f"http://old.example.net:{port}/"],
        "curl_proxy_absolute": curl + ["-x", f"http://127.0.0.1:{port}",
                                       "http://absolute.example.net/x?y=1"],
        "curl_proxy_connect": curl + ["-x", f"http://127.0.0.1:{port}",
                                      "https://tunnel.example.net/"],
    }


def first_flight_done(data):
    """True once data holds a whole ClientHello or a whole HTTP head."""
    if data[:1] == b"\x16":
        msg, pos = b"", 0
        while pos + 5 <= len(data):
            rec_len = int.from_bytes(data[pos + 3:pos + 5], "big")
            msg += data[pos + 5:pos + 5 + rec_len]
            pos += 5 + rec_len
            if len(msg) >= 4 and len(msg) >= 4 + int.from_bytes(msg[1:4], "big"):
                return pos <= len(data)
        return False
    return b"\r\n\r\n" in data or b"\n\n" in data


def record(listener, argv):
    """Runs one client and returns the bytes it sent first."""
    client = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        listener.settimeout(ACCEPT_S)
        conn, _ = listener.accept()
        data = b""
        with conn:
            conn.settimeout(IDLE_S)
            while len(data) < MAX_BYTES and not first_flight_done(data):
                try:
                    chunk = conn.recv(MAX_BYTES - len(data))
                except socket.timeout:
                    break
                if not chunk:
                    break
                data += chunk
        return data
    finally:
        client.kill()
        client.wait()


def main():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        table = clients(listener.getsockname()[1])
        names = sys.argv[1:] or sorted(table)
        for name in names:
            data = record(listener, table[name])
            path = os.path.join(HERE, name + ".bin")
            with open(path, "wb") as out:
                out.write(data)
            print(f"{name}: {len(data)} bytes")
            time.sleep(0.1)


if __name__ == "__main__":
    main()
