#!/usr/bin/env python3
"""Bulk-loads API tokens into a keygate SQLite database for make bench, in one transaction
(the API would take one durable transaction per token: minutes for a million).

Usage: fill.py DB KEYS_DIR COUNT ROLE_ID AUTH_OUT USABLE [SECRETS]
  Inserts COUNT active tokens of role ROLE_ID, each with SECRETS secrets (default 1).  The
  newest secret of each of the first USABLE tokens is a real one, hashed as keygate hashes
  them (keyed BLAKE2b-256 under KEYS_DIR/hash.key), and AUTH_OUT receives one
  "Basic base64(clientId:secret)" line for each; every other secret is the hash of a secret
  nobody knows.  Rows are stamped with one new data version, so a running keygate's view would pick
  them up like any other change; make bench loads them before it starts keygate.

Ten million tokens load in bounded memory: rows are made and inserted a batch at a time, the
two tables' indexes are dropped for the load and made again after it (one sort each, rather
than a random insert a row into the index of secret hashes), and the load runs with an
in-memory rollback journal and no syncs (a throw-away database: keygate is not running, and
a crash means loading again).  The file is back in WAL mode, checkpointed, at the end.
"""
import base64, hashlib, os, sqlite3, sys, time, zlib

B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BATCH = 50000  # tokens a batch


def b62_random(n):
    out = []
    while len(out) < n:
        for b in os.urandom(2 * n):
            if b < 248 and len(out) < n:
                out.append(B62[b % 62])
    return "".join(out)


def secret():
    body = "kgs_" + b62_random(32)
    crc = zlib.crc32(body.encode())
    tail = ""
    for _ in range(6):
        tail = B62[crc % 62] + tail
        crc //= 62
    return body + tail


def main():
    db, keys_dir, count, role_id, auth_out, usable = sys.argv[1:7]
    count, usable = int(count), int(usable)
    per_token = int(sys.argv[7]) if len(sys.argv) > 7 else 1
    key = open(os.path.join(keys_dir, "hash.key"), "rb").read()
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA busy_timeout = 10000")
    con.execute("PRAGMA journal_mode = MEMORY")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -131072")  # 128 MiB, for the index sorts
    con.execute("BEGIN IMMEDIATE")
    ver = con.execute("SELECT data_ver FROM meta WHERE id = 1").fetchone()[0] + 1
    now = int(time.time() * 1000)
    prefix = "kgc_" + b62_random(4)  # the rest is the row number: unique and fast
    indexes = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        " AND tbl_name IN ('tokens', 'token_secrets')").fetchall()
    for name, _ in indexes:
        con.execute('DROP INDEX "%s"' % name.replace('"', '""'))

    with open(auth_out, "w") as auth:
        for start in range(0, count, BATCH):
            end = min(start + BATCH, count)
            cids = ["%s%012d" % (prefix, i) for i in range(start, end)]
            con.executemany(
                "INSERT INTO tokens (client_id, description, role_id, status, created_on,"
                " created_by, ver) VALUES (?, ?, ?, 0, ?, 'bench', ?)",
                ((cid, "bench token %d" % (start + j), role_id, now, ver)
                 for j, cid in enumerate(cids)))
            unknown = os.urandom(32 * len(cids) * per_token)  # hashes of secrets nobody knows

            def secrets():
                for j, cid in enumerate(cids):
                    for k in range(per_token):
                        n = j * per_token + k
                        if start + j < usable and k == per_token - 1:
                            s = secret()
                            auth.write("Basic %s\n" % base64.b64encode(
                                ("%s:%s" % (cid, s)).encode()).decode())
                            h = hashlib.blake2b(s.encode(), digest_size=32, key=key).digest()
                        else:
                            s, h = "kgs_xxxx", unknown[32 * n:32 * n + 32]
                        yield (cid, h, s[:8], now)

            con.executemany(
                "INSERT INTO token_secrets (client_id, secret_hash, prefix, status, created_on)"
                " VALUES (?, ?, ?, 0, ?)", secrets())
    for _, sql in indexes:
        con.execute(sql)
    con.execute("UPDATE meta SET data_ver = ? WHERE id = 1", (ver,))
    con.execute("COMMIT")
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # keygate starts on a settled file
    con.close()


main()
