#!/usr/bin/env python3
"""The measuring half of tools/bench.sh (which builds, starts the cluster and
exports BENCH_*).  Seeds the firms, runs every HTTP request with wrk against
pgbench -M prepared running the same SQL, and writes a markdown report."""

import glob
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse

env = os.environ
DIR = env["BENCH_DIR"]
BINDIR = env["BENCH_BINDIR"]
PGPORT = env["BENCH_PGPORT"]
HTTPPORT = int(env["BENCH_HTTPPORT"])
PASSWORD = env["BENCH_PASSWORD"]
HERE = env["BENCH_HERE"]
SMOKE = env.get("ESQASE_BENCH_SMOKE") == "1"


def setting(name, default, smoke_default):
    return env.get(name) or (smoke_default if SMOKE else default)


SECS = int(setting("ESQASE_BENCH_SECONDS", "5", "1"))
SWEEP_SECS = int(setting("ESQASE_BENCH_SWEEP_SECONDS", "2", "1"))
CLIENTS = int(setting("ESQASE_BENCH_CLIENTS", "16", "4"))
SWEEP = [int(x) for x in setting("ESQASE_BENCH_SWEEP", "1 2 4 8 16 32", "4").split()]
SIZES = [int(x) for x in setting("ESQASE_BENCH_SIZES", "1000 100000 200000 1000000",
                                 "1000").split()]
OFFSETS = [int(x) for x in setting("ESQASE_BENCH_OFFSETS", "100000 500000", "500").split()]
PARTS = setting("ESQASE_BENCH_PARTS", "crud lists tx costs webhooks", "crud lists tx costs webhooks").split()
# issue 19: webhook events delivered in the throughput run (each to three
# webhooks)
WEBHOOK_EVENTS = int(setting("ESQASE_BENCH_WEBHOOK_EVENTS", "5000", "200"))
# creates in one transaction for the write's CPU in SQL, with and without
WEBHOOK_SQL_CREATES = int(setting("ESQASE_BENCH_WEBHOOK_SQL_CREATES", "1000", "50"))
# issue 16: records per resource created in one transaction, one create per
# call; the bulk create's total and batch; the pairs of runs of each cost
ONETX = [int(x) for x in setting("ESQASE_BENCH_ONETX", "2000 100000", "200 1000").split()]
BULK = int(setting("ESQASE_BENCH_BULK", "100000", "2000"))
BULK_BATCH = int(setting("ESQASE_BENCH_BULK_BATCH", "10000", "1000"))
COST_PAIRS = int(setting("ESQASE_BENCH_COST_PAIRS", "3", "1"))
SMOKE_TX = 25            # smoke: pgbench -t per client instead of -T
THREADS = 2              # client threads (wrk -t, pgbench -j), at most the connections
REPORT = env.get("ESQASE_BENCH_REPORT") or ("" if SMOKE else os.path.join(HERE, "docs/benchmarks.md"))
BASE = "http://127.0.0.1:%d" % HTTPPORT
T0 = time.time()


def log(msg):
    print("bench [%4.0fs]: %s" % (time.time() - T0, msg), file=sys.stderr, flush=True)


def die(msg):
    log("FAILED: " + msg)
    sys.exit(1)


# ---------------------------------------------------------------- SQL access

def psql(sql, db="esqase_bench"):
    """Runs sql as the postgres superuser; returns the unaligned output."""
    p = subprocess.run(["runuser", "-u", "postgres", "--", BINDIR + "/psql", "-X", "-q", "-At",
                        "-v", "ON_ERROR_STOP=1", "-h", DIR, "-p", PGPORT, "-U", "postgres",
                        "-d", db], input=sql, capture_output=True, text=True)
    if p.returncode != 0:
        die("psql failed: %s\n%s" % (p.stderr.strip(), sql[:2000]))
    return p.stdout.strip()


def as_key(token, sql):
    """Runs sql in one transaction as esqase_api with the key's API context."""
    return psql("BEGIN;\nSET LOCAL ROLE esqase_api;\nSELECT esqase_authenticate('%s') \\g /dev/null\n"
                "%s\nCOMMIT;\n" % (token, sql))


def parallel(sqls, token, jobs=2):
    """Runs each statement in its own transaction as the key, two sessions at
    a time (making records to delete: outside the measured time)."""
    running = []

    def reap():
        p = running.pop(0)
        err = p.stderr.read()
        if p.wait() != 0:
            die("psql failed: %s" % err.strip())
    for i, sql in enumerate(sqls):
        if len(running) >= jobs:
            reap()
        path = os.path.join(DIR, "batch%d.sql" % (i % (jobs + 1)))
        with open(path, "w") as f:
            f.write("BEGIN;\nSET LOCAL ROLE esqase_api;\nSELECT esqase_authenticate('%s') "
                    "\\g /dev/null\n%s\nCOMMIT;\n" % (token, sql))
        os.chmod(path, 0o644)
        running.append(subprocess.Popen(
            ["runuser", "-u", "postgres", "--", BINDIR + "/psql", "-X", "-q", "-At", "-v",
             "ON_ERROR_STOP=1", "-h", DIR, "-p", PGPORT, "-U", "postgres", "-d", "esqase_bench",
             "-f", path], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    while running:
        reap()


def q(s):
    return "'" + s.replace("'", "''") + "'"


# ---------------------------------------------------------------- seeding

def new_firm(name, members=1):
    out = psql("""
SELECT f, m, esqase_create_api_key(m, esqase.valid_scopes(), 'bench key')
  FROM (SELECT esqase_create_firm(%s) AS f) a,
       LATERAL (SELECT esqase_create_member(a.f, 'Bench Owner', 'owner@bench.example', true,
                                            '{practice_areas}') AS m) b;""" % q(name))
    firm, member, token = out.split("|")
    extra = []
    for i in range(1, members):
        extra.append(psql("SELECT esqase_create_member(%s, 'Bench Member %d', 'm%d@bench.example')"
                          % (q(firm), i, i)))
    return {"firm": firm, "member": member, "token": token, "members": [member] + extra}


def seed_contacts(firm, n):
    """Set-based insert into esqase.contacts as the superuser, triggers on (the
    derived name, the audit row, any maintained totals), created_at spread."""
    batch = 100000
    done = 0
    while done < n:
        k = min(batch, n - done)
        psql("""
INSERT INTO esqase.contacts (firm_id, type, first_name, last_name, name, emails, phones, created_at)
SELECT %s, 'PERSON', 'First' || g, 'Last' || g, 'First' || g || ' Last' || g,
       ARRAY['c' || g || '@bench.example'], ARRAY['+1-555-' || lpad(g::text, 7, '0')],
       timestamptz '2020-01-01 00:00:00+00' + g * interval '1 minute'
  FROM generate_series(%d, %d) g;""" % (q(firm), done + 1, done + k))
        done += k


def pool_add(res, ids):
    """bench.pool keeps ids by number, so pgbench can address the n-th one."""
    if not ids:
        return
    start = int(psql("SELECT coalesce(max(k) + 1, 0) FROM bench.pool WHERE res = %s" % q(res)))
    values = ",".join("(%s,%d,%s)" % (q(res), start + i, q(x)) for i, x in enumerate(ids))
    psql("INSERT INTO bench.pool (res, k, id) VALUES %s;" % values)


def pool_ids(res):
    return psql("SELECT id FROM bench.pool WHERE res = %s ORDER BY k" % q(res)).split()


# ---------------------------------------------------------------- HTTP checks

class Http:
    def __init__(self, token):
        self.token = token
        self.conn = http.client.HTTPConnection("127.0.0.1", HTTPPORT, timeout=120)

    def req(self, method, path, body=None):
        headers = {"Authorization": "Bearer " + self.token}
        if body is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                r = self.conn.getresponse()
                data = r.read()
                return r.status, data
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", HTTPPORT, timeout=120)
                if attempt == 2:
                    raise


def check(h, method, path, want, body=None):
    st, data = h.req(method, path, body)
    if st != want:
        die("%s %s answered %d, not %d: %s" % (method, path, st, want, data[:300]))
    return json.loads(data) if data else None


# ---------------------------------------------------------------- load runs

def pct(sorted_vals, p):
    if not sorted_vals:
        return None
    i = min(len(sorted_vals) - 1, max(0, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[i]


def pgbench(name, script, clients, secs, variables, tx=None):
    """pgbench -M prepared; returns dict(tps, p50, p99 in ms, n, per_client)."""
    path = os.path.join(DIR, "%s.sql" % name)
    with open(path, "w") as f:
        f.write(script)
    os.chmod(path, 0o644)
    prefix = os.path.join(DIR, "pglog")
    for old in glob.glob(prefix + "*"):
        os.unlink(old)
    cmd = [BINDIR + "/pgbench", "-h", "127.0.0.1", "-p", PGPORT, "-U", "esqase_bench",
           "-M", "prepared", "-n", "-c", str(clients), "-j", str(min(THREADS, clients)),
           "-l", "--log-prefix", prefix, "-f", path]
    cmd += ["-t", str(tx)] if tx else ["-T", str(secs)]
    for k, v in variables.items():
        cmd += ["-D", "%s=%s" % (k, v)]
    cmd.append("esqase_bench")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=secs + 120,
                       env=dict(env, PGPASSWORD=PASSWORD), cwd=DIR)
    out = p.stdout + p.stderr
    failed = re.search(r"number of failed transactions: (\d+)", out)
    if p.returncode != 0 or "aborted" in out or (failed and int(failed.group(1)) > 0):
        die("pgbench %s (%d clients) failed:\n%s\n%s" % (name, clients, script, out[-3000:]))
    m = re.search(r"^tps = ([0-9.]+)", out, re.M)
    if not m:
        die("pgbench %s (%d clients) printed no tps:\n%s" % (name, clients, out[-3000:]))
    tps = float(m.group(1))
    lat, per_client = [], {}
    for fn in glob.glob(prefix + "*"):
        with open(fn) as f:
            for line in f:
                parts = line.split()
                lat.append(int(parts[2]))
                c = int(parts[0])
                per_client[c] = per_client.get(c, 0) + 1
        os.unlink(fn)
    lat.sort()
    return {"rps": tps, "p50": pct(lat, 50) / 1000.0, "p99": pct(lat, 99) / 1000.0,
            "n": len(lat), "per_client": per_client, "clients": clients}


UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk(path, token, conns, secs, lua=None):
    """wrk with keep-alive; returns dict(rps, p50, p99 in ms, n).  Any non-2xx
    answer or socket error fails the benchmark."""
    cmd = ["wrk", "-t", str(min(THREADS, conns)), "-c", str(conns), "-d", "%ds" % secs,
           "--timeout", "60s", "--latency", "-H", "Authorization: Bearer " + token]
    if lua:
        cmd += ["-s", lua]
    cmd.append(BASE + path)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=secs + 120)
    out = p.stdout + p.stderr
    if p.returncode != 0 or "Non-2xx or 3xx responses" in out or "Socket errors" in out:
        die("wrk %s failed:\n%s" % (path, out))
    rps = float(re.search(r"^Requests/sec:\s*([0-9.]+)", out, re.M).group(1))
    n = int(re.search(r"(\d+) requests in", out).group(1))

    def lat(p):
        m = re.search(r"^\s*%d%%\s+([0-9.]+)(us|ms|s|m)\s*$" % p, out, re.M)
        return float(m.group(1)) * UNIT[m.group(2)]
    return {"rps": rps, "p50": lat(50), "p99": lat(99), "n": n, "clients": conns}


def stat_fields(stat):
    """The fields of a /proc/<pid>/stat text after "pid (comm)": state is [0],
    ppid [1], utime and stime [11] and [12], the reaped children's [13], [14]."""
    return stat.rsplit(")", 1)[1].split()


def stat_cpu(stat, children=False):
    """CPU seconds (user + system) of a /proc/<pid>/stat text: the process's
    own, or its reaped children's."""
    f = stat_fields(stat)
    i = 13 if children else 11
    return (int(f[i]) + int(f[i + 1])) / CLK_TCK


def cpu_ticks(extra_pids=()):
    """CPU time (user + system, seconds) used so far by the cluster's
    processes by kind (its bgw_name or "backend" in the process title: "esqase
    http worker", "esqase webhook worker", ...) and by extra_pids ("receiver"),
    read from /proc; the difference of two readings is what a run cost."""
    postmaster = int(open(os.path.join(DIR, "data", "postmaster.pid")).readline())
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = open("/proc/%s/stat" % pid).read()
            cmd = open("/proc/%s/cmdline" % pid, "rb").read().decode(errors="replace")
        except OSError:
            continue
        ppid, used = int(stat_fields(stat)[1]), stat_cpu(stat)
        if int(pid) in extra_pids:
            kind = "receiver"
        elif ppid == postmaster:
            kind = re.sub(r"^postgres: ", "", cmd.replace("\0", " ")).strip()
            kind = re.sub(r" \d+$", "", kind) if kind.startswith("esqase") else "other"
        else:
            continue
        out[kind] = out.get(kind, 0) + used
    return out


def cpu_used(before, after):
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(before) | set(after)}


def write_lua(name, text):
    path = os.path.join(DIR, name + ".lua")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)
    return path


def lua_str(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def one_stmt(call):
    # OFFSET 0 keeps the subquery, so the key is checked before the call: one
    # statement, one implicit transaction, one round trip, like one HTTP request.
    return "SELECT %s FROM (SELECT esqase_authenticate(:token) OFFSET 0) AS a;\n" % call


def one_stmt_pool(res, call):
    # Updates and deletes take their target from bench.pool (one primary-key
    # lookup in the same statement): pgbench cannot hold a list of uuids.
    return ("SELECT %s FROM (SELECT esqase_authenticate(:token) OFFSET 0) AS a, bench.pool p"
            " WHERE p.res = '%s' AND p.k = :k::int;\n" % (call, res))


# ---------------------------------------------------------------- busy check

busy = {}


def note_busy():
    """Other test runs on this machine make the numbers meaningless: note them."""
    p = subprocess.run(["pgrep", "-f", r"pg_regress|/usr/bin/prove|pgbench|wrk "],
                       capture_output=True, text=True)
    for pid in p.stdout.split():
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if DIR in cmdline or BASE in cmdline or int(pid) == os.getpid():
            continue
        busy[pid] = cmdline[:80]


def other_cpu_jiffies():
    """CPU time (utime + stime) of every process that is not this benchmark:
    neither this script and its children (wrk, pgbench, psql) nor the
    cluster's processes.  The machine has few CPUs; other load skews numbers."""
    try:
        postmaster = int(open(os.path.join(DIR, "data", "postmaster.pid")).readline())
    except (OSError, ValueError):
        postmaster = -1
    ours = {os.getpid(), postmaster}
    stats = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                rest = stat_fields(f.read())
        except (OSError, IndexError):
            continue
        stats[int(d)] = (int(rest[1]), int(rest[11]) + int(rest[12]))
    out = {}
    for pid, (ppid, t) in stats.items():
        x, hops = pid, 0
        while x > 1 and x not in ours and hops < 64:
            x, hops = stats.get(x, (0, 0))[0], hops + 1
        if x not in ours:
            out[pid] = t
    return out


CLK_TCK = os.sysconf("SC_CLK_TCK")
other_cpu = []          # % of one CPU used by other processes, per measurement


def other_begin():
    return (time.time(), other_cpu_jiffies())


def other_end(mark):
    t0, before = mark
    after = other_cpu_jiffies()
    used = sum(t - before.get(pid, 0) for pid, t in after.items() if t >= before.get(pid, 0))
    pct_ = 100.0 * used / CLK_TCK / max(0.001, time.time() - t0)
    other_cpu.append(pct_)
    return pct_


# ---------------------------------------------------------------- one operation

def measure(label, http_run, pg_run, sweep=True, pg_first=False):
    """http_run(conns, secs) and pg_run(clients, secs, tx) -> result dicts.
    Returns HTTP at CLIENTS, pgbench at CLIENTS and pgbench at its best."""
    log(label)
    note_busy()
    mark = other_begin()
    r = {"label": label}
    if pg_first:
        r["same"] = pg_run(CLIENTS, SECS, SMOKE_TX if SMOKE else None)
        r["http"] = http_run(CLIENTS, SECS)
    else:
        r["http"] = http_run(CLIENTS, SECS)
        r["same"] = pg_run(CLIENTS, SECS, SMOKE_TX if SMOKE else None)
    best = r["same"]
    r["sweep"] = {CLIENTS: r["same"]["rps"]}
    if sweep:
        for c in SWEEP:
            if c == CLIENTS:
                continue
            x = pg_run(c, SWEEP_SECS, SMOKE_TX if SMOKE else None)
            r["sweep"][c] = x["rps"]
            if x["rps"] > best["rps"]:
                best = x
    r["best"] = best
    r["other"] = other_end(mark)
    note_busy()
    return r


# ---------------------------------------------------------------- issue 16

def pgbench_as(user, name, script, clients, secs, variables, tx=None, with_n=False):
    """pgbench -M prepared as user over the Unix socket (the superuser:
    no row-level security), else as pgbench() does; returns tps (with_n:
    tps and the number of transactions)."""
    if user != "postgres":
        r = pgbench(name, script, clients, secs, variables, tx)
        return (r["rps"], r["n"]) if with_n else r["rps"]
    path = os.path.join(DIR, "%s.sql" % name)
    with open(path, "w") as f:
        f.write(script)
    os.chmod(path, 0o644)
    cmd = ["runuser", "-u", "postgres", "--", BINDIR + "/pgbench", "-h", DIR, "-p", PGPORT,
           "-U", "postgres", "-M", "prepared", "-n", "-c", str(clients), "-j",
           str(min(THREADS, clients)), "-f", path]
    cmd += ["-t", str(tx)] if tx else ["-T", str(secs)]
    for k, v in variables.items():
        cmd += ["-D", "%s=%s" % (k, v)]
    cmd.append("esqase_bench")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=secs + 120, cwd=DIR)
    out = p.stdout + p.stderr
    m = re.search(r"^tps = ([0-9.]+)", out, re.M)
    if p.returncode != 0 or not m or "aborted" in out:
        die("pgbench %s as %s failed:\n%s" % (name, user, out[-3000:]))
    if with_n:
        return float(m.group(1)), int(re.search(r"transactions actually processed: (\d+)", out).group(1))
    return float(m.group(1))


# create bodies as SQL expressions of g (the record's number)
TX_BODIES = {
    "contacts": "jsonb_build_object('type', 'PERSON', 'firstName', 'T' || g, 'lastName', 'Tx', "
                "'emails', jsonb_build_array('t' || g || '@tx.example'), 'phones', jsonb_build_array('+1-555-0100'))",
    "practice_areas": "jsonb_build_object('name', 'Area T' || g)",
    "matter_types": "jsonb_build_object('practiceAreaId', %(area)s, 'name', 'Type T' || g)",
    "matters": "jsonb_build_object('practiceAreaId', %(area)s, 'openDate', '2026-07-01', 'title', 'Matter T' || g, "
               "'clientContactIds', jsonb_build_array(%(contact)s), "
               "'team', jsonb_build_array(jsonb_build_object('memberId', %(member)s, 'allocation', 50)))",
    "leads": "jsonb_build_object('type', 'PERSON', 'firstName', 'Lead' || g, 'email', 'l' || g || '@tx.example', "
             "'practiceAreaId', %(area)s, 'value', 'HIGH')",
}


def tx_seconds(token, sql):
    """Runs sql in one transaction as the key, rolled back; returns its
    seconds and the backend's CPU seconds (user + system, from
    /proc/self/stat read by the backend itself before and after: on a
    loaded machine the wall time counts the other processes too)."""
    out = psql("BEGIN;\nSELECT 'cpu0', pg_read_file('/proc/self/stat');\nSET LOCAL ROLE esqase_api;\n"
               "SELECT esqase_authenticate('%s') \\g /dev/null\n"
               "SELECT clock_timestamp() AS t0 \\gset\n%s \\g /dev/null\n"
               "SELECT 'wall', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);\nRESET ROLE;\n"
               "SELECT 'cpu1', pg_read_file('/proc/self/stat');\nROLLBACK;\n"
               % (token, sql))
    got = dict(line.split("|", 1) for line in out.splitlines() if line.startswith(("cpu0|", "cpu1|", "wall|")))
    secs = float(got["wall"])
    cpu_secs = stat_cpu(got["cpu1"]) - stat_cpu(got["cpu0"])
    # the rolled-back rows are dead: vacuumed away, as a DBA would after a
    # failed import, so that the next run starts from the same tables
    psql("VACUUM ANALYZE esqase.contacts, esqase.leads, esqase.lead_assignees, esqase.matters, "
         "esqase.matter_clients, esqase.matter_team, esqase.practice_areas, esqase.practice_area_stages, "
         "esqase.matter_types, esqase.audit_log")
    return secs, cpu_secs


def tx_firm(name):
    """A firm for the one-transaction runs, with what their bodies refer to."""
    f = new_firm(name, members=2)
    area = json.loads(as_key(f["token"], "SELECT esqase_practice_areas_create('{\"name\": \"Tx area\"}');"))["data"]["id"]
    contact = json.loads(as_key(f["token"], "SELECT esqase_contacts_create('{\"type\": \"COMPANY\", "
                                            "\"companyName\": \"Tx client\"}');"))["data"]["id"]
    return f, {"area": q(area), "contact": q(contact), "member": q(f["members"][1])}


TX_PAIRS = 7    # the last chunks of the large transaction, each between two fresh ones


def one_transaction_paired(f, refs, g, grefs, res):
    """One create per call of res: ONETX[-1] records in one transaction of
    f's key (rolled back), in chunks of ONETX[0]; before and after each of
    its last TX_PAIRS chunks, a fresh transaction of ONETX[0] creates by g's
    key (another firm: no counter row between them; rolled back) runs in
    another backend (psql's \\!), so that each chunk at the end of the large
    transaction has its baseline measured seconds, not minutes, away.
    Returns the large run's (wall, CPU) seconds (its wall time includes the
    fresh runs; its backend's CPU does not), the chunks' and the fresh runs'
    seconds, the fresh runs' CPU seconds, and each pair's ratio of rates."""
    small, big = ONETX[0], ONETX[-1]
    base = os.path.join(DIR, "tx_base_%s.sql" % res)
    with open(base, "w") as fh:
        fh.write("BEGIN;\nSELECT 'bcpu0', pg_read_file('/proc/self/stat');\nSET LOCAL ROLE esqase_api;\n"
                 "SELECT esqase_authenticate('%s') \\g /dev/null\nSELECT clock_timestamp() AS t0 \\gset\n"
                 "SELECT count(esqase_%s_create(%s)) FROM generate_series(1, %d) g \\g /dev/null\n"
                 "SELECT 'base', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);\nRESET ROLE;\n"
                 "SELECT 'bcpu1', pg_read_file('/proc/self/stat');\nROLLBACK;\n"
                 % (g["token"], res, TX_BODIES[res] % grefs, small))
    os.chmod(base, 0o644)
    fresh = "\\! %s/psql -X -q -At -v ON_ERROR_STOP=1 -h %s -p %s -U postgres -d esqase_bench -f %s" % (
        BINDIR, DIR, PGPORT, base)
    chunks = big // small
    pairs = min(TX_PAIRS, chunks)
    lines = ["BEGIN;", "SELECT 'cpu0', pg_read_file('/proc/self/stat');", "SET LOCAL ROLE esqase_api;",
             "SELECT esqase_authenticate('%s') \\g /dev/null" % f["token"],
             "SELECT clock_timestamp() AS t0 \\gset"]
    for k in range(chunks):
        paired = k >= chunks - pairs
        lines += ([fresh] if paired else []) + [
            "SELECT clock_timestamp() AS c0 \\gset",
            "SELECT count(esqase_%s_create(%s)) FROM generate_series(%d, %d) g \\g /dev/null"
            % (res, TX_BODIES[res] % refs, k * small + 1, (k + 1) * small),
            "SELECT 'chunk', extract(epoch FROM clock_timestamp() - :'c0'::timestamptz);"] + ([fresh] if paired else [])
    lines += ["SELECT 'wall', extract(epoch FROM clock_timestamp() - :'t0'::timestamptz);", "RESET ROLE;",
              "SELECT 'cpu1', pg_read_file('/proc/self/stat');", "ROLLBACK;"]
    out = [line.split("|") for line in psql("\n".join(lines) + "\n").splitlines()]
    got = {k: v[0] for k, *v in out if k in ("cpu0", "cpu1", "wall")}
    chunk_secs = [float(v[0]) for k, *v in out if k == "chunk"]
    fresh_secs = [float(v[0]) for k, *v in out if k == "base"]
    fresh_cpu = [stat_cpu(b[0]) - stat_cpu(a[0]) for a, b in
                 zip([v for k, *v in out if k == "bcpu0"], [v for k, *v in out if k == "bcpu1"])]
    if len(chunk_secs) != chunks or len(fresh_secs) != 2 * pairs or len(fresh_cpu) != 2 * pairs:
        die("one transaction, %s: %d chunks and %d fresh runs timed" % (res, len(chunk_secs), len(fresh_secs)))
    # a chunk's rate over that of the fresh runs before and after it: the
    # mean of their times over the chunk's
    ratios = [(fresh_secs[2 * i] + fresh_secs[2 * i + 1]) / 2 / chunk_secs[chunks - pairs + i]
              for i in range(pairs)]
    psql("VACUUM ANALYZE esqase.contacts, esqase.leads, esqase.lead_assignees, esqase.matters, "
         "esqase.matter_clients, esqase.matter_team, esqase.practice_areas, esqase.practice_area_stages, "
         "esqase.matter_types, esqase.audit_log")
    return ((float(got["wall"]), stat_cpu(got["cpu1"]) - stat_cpu(got["cpu0"])), chunk_secs, fresh_secs,
            fresh_cpu, ratios)


def one_transaction_rates(f, refs, g, grefs):
    """Records per second of one create per call in one transaction, for
    each resource: ONETX[0] (the median of the fresh runs) and ONETX[-1]
    (the large run as a whole), by the wall clock; the large run also by the
    backend's CPU (key + " cpu"); and (key + " paired") the median of the
    pairs' ratios, the rate of a chunk at the end of the large transaction
    over that of fresh transactions of the same size around it.  And the
    bulk create of contacts and leads."""
    rates = {}
    small, big = ONETX[0], ONETX[-1]
    for res in TX_BODIES:
        log("one transaction: %d %s, one create per call, the last %d chunks of %d paired with fresh runs"
            % (big, res, min(TX_PAIRS, big // small), small))
        (_, cpu), chunk_secs, fresh_secs, fresh_cpu, ratios = one_transaction_paired(f, refs, g, grefs, res)
        rates[(res, small)] = median([small / x for x in fresh_secs])
        rates[(res + " cpu", small)] = median([small / max(x, 0.01) for x in fresh_cpu])
        rates[(res, big)] = big / sum(chunk_secs)    # not wall: the fresh runs ran meanwhile
        rates[(res + " cpu", big)] = big / max(cpu, 0.01)
        rates[(res + " paired", big)] = median(ratios)
        rates[(res + " pairs", big)] = ratios
    bulk = {}

    def put(key, n, secs_cpu):
        bulk[key] = n / secs_cpu[0]
        bulk[key + " cpu"] = n / max(secs_cpu[1], 0.01)
    for res in ("contacts", "leads"):
        body = TX_BODIES[res] % refs
        batch = min(BULK_BATCH, BULK)
        log("one transaction: %d %s by esqase_%s_create_many, %d per call" % (BULK, res, res, batch))
        put(res, BULK, tx_seconds(f["token"],
                                  "SELECT sum(jsonb_array_length(esqase_%s_create_many((SELECT jsonb_agg(%s ORDER BY g) "
                                  "FROM generate_series(k * %d + 1, (k + 1) * %d) g)) -> 'data')) "
                                  "FROM generate_series(0, %d) k" % (res, body, batch, batch, BULK // batch - 1)))
    # where the bulk create's time goes: the checks alone (the PL/pgSQL one
    # create runs), and the same rows by a plain INSERT ... SELECT with every
    # trigger (what set-based SQL costs per row here)
    batch = min(BULK_BATCH, BULK)
    body = TX_BODIES["contacts"] % refs
    log("bulk create's parts: checks, INSERT ... SELECT")
    put("checks", batch, tx_seconds(f["token"], "SELECT count(esqase.contact_new(e)) FROM jsonb_array_elements("
                                                "(SELECT jsonb_agg(%s) FROM generate_series(1, %d) g)) e" % (body, batch)))
    put("insert", batch, tx_seconds(f["token"], "INSERT INTO esqase.contacts (firm_id, type, first_name, last_name, emails, phones, name) "
                                                "SELECT esqase.context_firm(), 'PERSON', 'T' || g, 'Tx', ARRAY['t' || g || '@tx.example'], "
                                                "ARRAY['+1-555-0100'], '' FROM generate_series(1, %d) g" % batch))
    return rates, bulk


def set_conf(name, value):
    psql("ALTER SYSTEM SET %s = %s; SELECT pg_reload_conf();" % (name, value), db="postgres")
    time.sleep(1.5)


def paired(label, a_run, b_run):
    """COST_PAIRS alternating runs of a and b; returns (a rates, b rates)."""
    a, b = [], []
    for i in range(COST_PAIRS):
        log("%s, pair %d" % (label, i + 1))
        a.append(a_run())
        b.append(b_run())
    return a, b


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2] if len(xs) % 2 else (xs[len(xs) // 2 - 1] + xs[len(xs) // 2]) / 2


# ---------------------------------------------------------------- webhooks

def webhook_part():
    """Issue 19: (1) delivery throughput: WEBHOOK_EVENTS contacts made in one
    transaction (a bulk create), each event delivered to three webhooks on a
    local receiver (test/t/webhook_receiver.py), timed from the commit until
    no delivery is pending; (2) what three active webhooks cost a write:
    POST /v1/contacts over HTTP with the firm's three webhooks ACTIVE vs
    PAUSED (no outbox rows), COST_PAIRS alternating pairs, each run starting
    with nothing pending (the worker delivers during the ACTIVE runs, on the
    same CPUs): at CLIENTS connections, where the CPUs are saturated and
    the ratio of throughputs is what the delivery costs the writes, and at
    one connection, where they are not and the latency is the write's own
    (issue 19's goal); (3) the write alone in SQL, its backend's CPU."""
    f = new_firm("Webhook bench firm")
    s = __import__("socket").socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    recv_log = os.path.join(DIR, "receiver.jsonl")
    recv = subprocess.Popen(["python3", os.path.join(HERE, "test/t/webhook_receiver.py"), str(port),
                             recv_log, "--count"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                c.request("POST", "/count/ping", body="{}")
                c.getresponse().read()
                break
            except OSError:
                time.sleep(0.1)
        set_conf("esqase.webhook_allow_private", "on")
        h = Http(f["token"])
        for i in range(3):
            check(h, "POST", "/v1/webhooks", 201, json.dumps(
                {"url": "http://127.0.0.1:%d/count/%d" % (port, i), "events": ["contacts.created"]}))
        firm = q(f["firm"])

        def pending():     # deliveries to make (events not fanned out yet) or to send
            return int(psql("SELECT (SELECT count(*) FROM esqase.webhook_events WHERE firm_id = %s "
                            "AND NOT fanned_out) + (SELECT count(*) FROM esqase.webhook_deliveries "
                            "WHERE firm_id = %s AND state = 'PENDING')" % (firm, firm)))

        def drain(limit=60):
            t = time.time()
            while pending() and time.time() - t < limit:
                time.sleep(0.2)
            if pending():
                die("webhook deliveries still pending after %d s: %s" % (limit, psql(
                    "SELECT string_agg(format('%%s %%s %%s: %%s', state, attempts, last_error, n), '; ') FROM "
                    "(SELECT state, attempts, last_error, count(*) n FROM esqase.webhook_deliveries "
                    "WHERE firm_id = %s GROUP BY 1, 2, 3) x" % firm)))
            return time.time() - t

        log("webhooks: %d events to three webhooks" % WEBHOOK_EVENTS)
        as_key(f["token"], "SELECT esqase_contacts_create_many((SELECT jsonb_agg(jsonb_build_object("
               "'type', 'PERSON', 'firstName', 'Hook', 'lastName', 'Bench ' || i)) "
               "FROM generate_series(1, %d) i)) \\g /dev/null" % WEBHOOK_EVENTS)
        secs = drain()
        n = int(psql("SELECT count(*) FROM esqase.webhook_deliveries WHERE firm_id = %s "
                     "AND state = 'DELIVERED'" % firm))
        if n != 3 * WEBHOOK_EVENTS:
            die("webhooks: %d deliveries DELIVERED, not %d" % (n, 3 * WEBHOOK_EVENTS))
        result = {"events": WEBHOOK_EVENTS, "deliveries": n, "secs": secs, "rate": n / secs}

        lua = write_lua("create-webhooks", """
wrk.method = "POST"
wrk.body = '{"type":"PERSON","firstName":"Hook","lastName":"Write"}'
wrk.headers["Content-Type"] = "application/json"
""")

        def busy():     # the machine's CPU time so far, busy and in all (/proc/stat, all tenants)
            t = [int(x) for x in open("/proc/stat").readline().split()[1:]]
            return sum(t) - t[3] - t[4], sum(t)

        def run(status, conns=CLIENTS):
            drain()     # what the run before left (a paused webhook's deliveries wait)
            psql("UPDATE esqase.webhooks SET status = '%s' WHERE firm_id = %s" % (status, firm))
            before, busy0 = cpu_ticks((recv.pid,)), busy()
            r = wrk("/v1/contacts", f["token"], conns, SECS, lua)
            used, busy1 = cpu_used(before, cpu_ticks((recv.pid,))), busy()
            r["busy"] = (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1])
            # CPU ms per request: the request path (the HTTP workers), and
            # the delivery (the webhook worker and the receiver) during the run
            r["cpu_http"] = 1000 * used.get("esqase http worker", 0) / r["n"]
            r["cpu_worker"] = 1000 * used.get("esqase webhook worker", 0) / r["n"]
            r["cpu_receiver"] = 1000 * used.get("receiver", 0) / r["n"]
            r["cpu_delivery"] = r["cpu_worker"] + r["cpu_receiver"]
            r["cpu_other"] = 1000 * sum(v for k, v in used.items()
                                        if k not in ("esqase http worker", "esqase webhook worker", "receiver")) / r["n"]
            r["load"] = open("/proc/loadavg").read().split()[0]
            return r
        a, b = paired("webhooks: POST /v1/contacts with three webhooks ACTIVE vs PAUSED",
                      lambda: run("ACTIVE"), lambda: run("PAUSED"))
        result["active"], result["paused"] = a, b
        # the latency the goal means: one connection, the CPUs not saturated
        # (the delivery runs meanwhile, on the other CPU)
        a, b = paired("webhooks: POST /v1/contacts, one connection, three webhooks ACTIVE vs PAUSED",
                      lambda: run("ACTIVE", 1), lambda: run("PAUSED", 1))
        result["active1"], result["paused1"] = a, b

        def sql_run(status):
            """CPU ms per esqase_contacts_create of the one backend that runs
            WEBHOOK_SQL_CREATES of them in one transaction as the key (the
            commit, with its rendering of the events, included; the delivery,
            in the worker, not): /proc/<backend>/stat before and after."""
            drain()
            psql("UPDATE esqase.webhooks SET status = '%s' WHERE firm_id = %s" % (status, firm))
            out = psql("SELECT 'cpu0', pg_read_file('/proc/self/stat');\n"
                       "BEGIN;\nSET LOCAL ROLE esqase_api;\n"
                       "SELECT esqase_authenticate(%s) \\g /dev/null\n"
                       "DO $$ BEGIN FOR i IN 1..%d LOOP PERFORM esqase_contacts_create("
                       "'{\"type\": \"PERSON\", \"firstName\": \"Hook\", \"lastName\": \"Sql\"}'); "
                       "END LOOP; END $$;\nCOMMIT;\n"
                       "SELECT 'cpu1', pg_read_file('/proc/self/stat');\n"
                       % (q(f["token"]), WEBHOOK_SQL_CREATES))
            got = dict(line.split("|", 1) for line in out.splitlines() if line.startswith(("cpu0|", "cpu1|")))
            return 1000 * (stat_cpu(got["cpu1"]) - stat_cpu(got["cpu0"])) / WEBHOOK_SQL_CREATES
        a, b = paired("webhooks: esqase_contacts_create in SQL with three webhooks ACTIVE vs PAUSED",
                      lambda: sql_run("ACTIVE"), lambda: sql_run("PAUSED"))
        result["sql_active"], result["sql_paused"] = a, b
        psql("UPDATE esqase.webhooks SET status = 'ACTIVE' WHERE firm_id = %s" % firm)
        drain()
        skipped = psql("SELECT count(*) FROM esqase.webhook_deliveries WHERE firm_id = %s AND state <> 'DELIVERED'" % firm)
        if skipped != "0":
            die("webhooks: %s deliveries not DELIVERED" % skipped)
        return result
    finally:
        recv.terminate()
        recv.wait()
        set_conf("esqase.webhook_allow_private", "DEFAULT")


def webhook_report(wh):
    out = ["", "### Webhooks (issue 19)", ""]
    w = out.append

    def runs_table(active, paused, ms, last, last_of):
        """The ACTIVE / PAUSED pairs of runs, one row each; last: the
        heading of the last column, last_of(a, b) its cell."""
        w("| run | ACTIVE req/s | PAUSED req/s | ACTIVE p50 ms | PAUSED p50 ms | ACTIVE p99 ms | PAUSED p99 ms "
          "| ACTIVE CPU ms/req: request path, delivery | PAUSED CPU ms/req: request path | %s |" % last)
        w("|---|---|---|---|---|---|---|---|---|---|")
        for i, (a, b) in enumerate(zip(active, paused)):
            w(("| %d | %.0f | %.0f | " + " | ".join([ms] * 4) + " | %.3f, %.3f | %.3f | %s |")
              % (i + 1, a["rps"], b["rps"], a["p50"], b["p50"], a["p99"], b["p99"],
                 a["cpu_http"], a["cpu_delivery"], b["cpu_http"], last_of(a, b)))
    w("Delivery: %d contacts created in one transaction (`esqase_contacts_create_many`), each "
      "`contacts.created` event delivered to three webhooks on a local receiver "
      "(`test/t/webhook_receiver.py`, Python's threading HTTP server): %d deliveries in %.1f s "
      "from the commit to none pending, **%.0f deliveries/s** (goal ≥ 1,000: %s)."
      % (wh["events"], wh["deliveries"], wh["secs"], wh["rate"],
         "**met**" if wh["rate"] >= 1000 else "**missed**"))
    med = lambda runs, k: median([x[k] for x in runs])
    la1 = med(wh["active1"], "p50") / med(wh["paused1"], "p50")
    w("")
    w("Write latency, the goal (\"a write's latency over HTTP is unchanged, within 5%%, with three "
      "active webhooks on its resource\"): `POST /v1/contacts` over HTTP at **one connection** "
      "(`wrk -c 1 -t 1`), %d s per run, the firm's three webhooks subscribed to `contacts.created` "
      "ACTIVE (each create writes one event row at its commit, which the worker fans out to three "
      "deliveries and posts meanwhile) vs PAUSED (no outbox row); %d alternating pairs, each run "
      "starting with nothing pending. Busy: the machine's CPU busy during the run (`/proc/stat`, "
      "both CPUs, every process on the host)." % (SECS, COST_PAIRS))
    w("")
    runs_table(wh["active1"], wh["paused1"], "%.3f", "busy ACTIVE, PAUSED",
               lambda a, b: "%.0f%%, %.0f%%" % (100 * a["busy"], 100 * b["busy"]))
    w("")
    w("Medians: p50 latency with three active webhooks / none **%.3f** (goal ≤ 1.05: %s); p99 %.3f; "
      "CPU per request on the request path %.3f (%.3f vs %.3f ms)."
      % (la1, "**met**" if la1 <= 1.05 else "**missed**",
         med(wh["active1"], "p99") / med(wh["paused1"], "p99"),
         med(wh["active1"], "cpu_http") / med(wh["paused1"], "cpu_http"),
         med(wh["active1"], "cpu_http"), med(wh["paused1"], "cpu_http")))
    if la1 > 1.05:
        w("")
        w("What bounds it: the request path's own extra work (the probe, the event row and its "
          "rendering at commit: the CPU ratio above), and the delivery of each event (the worker "
          "and the receiver, %.3f ms of CPU per request: the worker %.3f, the receiver %.3f) on the "
          "CPU the request is not using, which is the other of two: a run is %.0f%% busy ACTIVE "
          "vs %.0f%% PAUSED."
          % (med(wh["active1"], "cpu_delivery"), med(wh["active1"], "cpu_worker"),
             med(wh["active1"], "cpu_receiver"), 100 * med(wh["active1"], "busy"),
             100 * med(wh["paused1"], "busy")))
    w("")
    w("Write cost at saturation: the same, %d connections, where the two CPUs are saturated and "
      "the delivery (the worker and the receiver, on the same CPUs) takes CPU from the writes: "
      "the throughput ratio is what the webhooks cost, and the latency is queueing for the CPUs, "
      "not the goal's:" % CLIENTS)
    w("")
    runs_table(wh["active"], wh["paused"], "%.2f", "load after ACTIVE, PAUSED",
               lambda a, b: "%s, %s" % (a["load"], b["load"]))
    ra = med(wh["active"], "rps") / med(wh["paused"], "rps")
    la = med(wh["active"], "p50") / med(wh["paused"], "p50")
    w("")
    w("Medians: throughput with three active webhooks / none **%.3f** (the cost); p50 latency at "
      "saturation with / without %.3f." % (ra, la))
    ca = med(wh["active"], "cpu_http") / med(wh["paused"], "cpu_http")
    w("")
    w("CPU per request on the request path (the HTTP workers' CPU time / requests), with / without: "
      "**%.3f** (%.3f vs %.3f ms); the delivery adds %.3f ms of CPU per request on the same CPUs "
      "(the webhook worker %.3f, the receiver %.3f; medians; `/proc/<pid>/stat`)."
      % (ca, med(wh["active"], "cpu_http"), med(wh["paused"], "cpu_http"),
         med(wh["active"], "cpu_delivery"), med(wh["active"], "cpu_worker"),
         med(wh["active"], "cpu_receiver")))
    w("")
    w("The write alone, in SQL: %d `esqase_contacts_create` in one transaction as the key, the "
      "backend's CPU time per create (commit included, delivery not), three webhooks ACTIVE vs "
      "PAUSED, %d alternating pairs: ACTIVE %s ms, PAUSED %s ms; medians %.3f vs %.3f: **%.3f**."
      % (WEBHOOK_SQL_CREATES, COST_PAIRS, ", ".join("%.3f" % x for x in wh["sql_active"]),
         ", ".join("%.3f" % x for x in wh["sql_paused"]), median(wh["sql_active"]),
         median(wh["sql_paused"]), median(wh["sql_active"]) / median(wh["sql_paused"])))
    return out


# ---------------------------------------------------------------- main

def main():
    pg_version = subprocess.run([BINDIR + "/postgres", "--version"], capture_output=True,
                                text=True).stdout.strip()
    try:    # the report names the commit; a machine without git (a copied tree) says "?"
        git = subprocess.run(["git", "-C", HERE, "describe", "--always", "--dirty"],
                             capture_output=True, text=True).stdout.strip() or "?"
    except OSError:
        git = "?"
    wrk_version = subprocess.run(["wrk", "--version"], capture_output=True,
                                 text=True).stdout.split("[")[0].strip()
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    mem = next(int(l.split()[1]) // 1024 for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    load_before = open("/proc/loadavg").read().split()[:3]

    wh = webhook_part() if "webhooks" in PARTS else None
    if PARTS == ["webhooks"]:
        report = "\n".join(["Generated by `tools/bench.sh` (ESQASE_BENCH_PARTS=webhooks)%s on %s UTC, "
                            "esqase `%s`, %s; %d CPUs (%s); load average before: %s."
                            % (" (smoke mode)" if SMOKE else "", time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                               git, pg_version, os.cpu_count(), cpu, " ".join(load_before))]
                           + webhook_report(wh))
        print(report)
        if env.get("ESQASE_BENCH_REPORT"):
            with open(env["ESQASE_BENCH_REPORT"], "w") as fh:
                fh.write(report + "\n")
        return
    psql("""
CREATE SCHEMA bench;
CREATE TABLE bench.pool (res text, k integer, id uuid NOT NULL, PRIMARY KEY (res, k));
GRANT USAGE ON SCHEMA bench TO PUBLIC;
GRANT SELECT ON bench.pool TO PUBLIC;
""")

    # -- list firms: contacts seeded set-based
    size_firms = {}
    seed_times = {}
    if "lists" not in PARTS:
        SIZES.clear()
    for n in SIZES:
        f = new_firm("Size %d LLP" % n)
        t = time.time()
        log("seeding %d contacts" % n)
        seed_contacts(f["firm"], n)
        seed_times[n] = time.time() - t
        size_firms[n] = f

    # -- the CRUD firm: records made through the SQL API, as esqase_api
    crud = new_firm("Bench Law LLP", members=3)
    tok = crud["token"]
    nc, npa, nmt, nm, nl = (200, 60, 60, 60, 60) if SMOKE else (2000, 500, 500, 1000, 1000)
    log("seeding the CRUD firm")
    as_key(tok, """
SELECT count(esqase_contacts_create(jsonb_build_object(
           'type', 'PERSON', 'firstName', 'First' || g, 'lastName', 'Last' || g,
           'emails', jsonb_build_array('c' || g || '@bench.example'),
           'phones', jsonb_build_array('+1-555-' || lpad(g::text, 6, '0')))))
  FROM generate_series(1, %d) g;
SELECT count(esqase_practice_areas_create(jsonb_build_object('name', 'Area ' || g)))
  FROM generate_series(1, %d) g;""" % (nc, npa))
    pas = psql("SELECT id FROM esqase.practice_areas WHERE firm_id = %s ORDER BY created_at, id"
               % q(crud["firm"])).split()
    pa0, pa_create = pas[0], pas[1]
    # matter types: 50 in each of the first areas (the list is of pa0's)
    per = 50 if not SMOKE else 30
    as_key(tok, """
SELECT count(esqase_matter_types_create(jsonb_build_object(
           'practiceAreaId', (%s::uuid[])[1 + (g - 1) / %d], 'name', 'Type ' || g)))
  FROM generate_series(1, %d) g;""" % (q("{" + ",".join(pas[2:2 + nmt // per + 1]) + "}"), per, nmt))
    contacts = psql("SELECT id FROM esqase.contacts WHERE firm_id = %s ORDER BY created_at, id"
                    % q(crud["firm"])).split()
    m1, m2 = crud["members"][1], crud["members"][2]
    stages = psql("SELECT id FROM esqase.lead_stages WHERE firm_id = %s ORDER BY \"order\""
                  % q(crud["firm"])).split()

    def matter_body(c1, c2, title):
        return json.dumps({"practiceAreaId": pa0, "openDate": "2026-07-01", "title": title,
                           "clientContactIds": [c1, c2],
                           "team": [{"memberId": m1, "role": "Lead counsel", "allocation": 60},
                                    {"memberId": m2, "role": "Associate", "allocation": 40}]},
                          separators=(",", ":"))
    as_key(tok, """
SELECT count(esqase_matters_create(jsonb_build_object(
           'practiceAreaId', %s, 'openDate', '2026-07-01', 'title', 'Matter ' || g,
           'description', 'Seeded matter number ' || g,
           'clientContactIds', jsonb_build_array(c[1 + (2 * g) %% %d], c[1 + (2 * g + 1) %% %d]),
           'team', jsonb_build_array(
               jsonb_build_object('memberId', %s, 'role', 'Lead counsel', 'allocation', 60),
               jsonb_build_object('memberId', %s, 'role', 'Associate', 'allocation', 40)))))
  FROM generate_series(1, %d) g, (SELECT %s::uuid[] AS c) cs;
SELECT count(esqase_leads_create(jsonb_build_object(
           'type', 'PERSON', 'firstName', 'Lead' || g, 'lastName', 'Prospect' || g,
           'email', 'l' || g || '@bench.example', 'phone', '+1-555-0100',
           'practiceAreaId', %s, 'value', 'HIGH')))
  FROM generate_series(1, %d) g;""" % (q(pa0), nc, nc, q(m1), q(m2), nm,
                                         q("{" + ",".join(contacts) + "}"), q(pa0), nl))

    tables = {"contacts": "contacts", "practice-areas": "practice_areas",
              "matter-types": "matter_types", "matters": "matters", "leads": "leads"}
    for res, table in tables.items():
        ids = psql("SELECT id FROM esqase.%s WHERE firm_id = %s AND deleted_at IS NULL "
                   "ORDER BY created_at, id" % (table, q(crud["firm"]))).split()
        pool_add("upd_" + res, ids)

    log("VACUUM ANALYZE, CHECKPOINT")
    psql("VACUUM ANALYZE")
    psql("CHECKPOINT")
    seed_total = time.time() - T0

    http_workers = psql("SHOW esqase.http_workers")
    # wait for the HTTP API
    h = Http(tok)
    for _ in range(150):
        try:
            st, _ = h.req("GET", "/v1/contacts?limit=1")
            if st == 200:
                break
        except OSError:
            pass
        time.sleep(0.2)
    else:
        die("the HTTP API did not come up")

    worker_pids = psql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'esqase http' "
                       "ORDER BY pid").split()

    def worker_mem():
        out = {}
        for pid in worker_pids:
            try:
                st = open("/proc/%s/status" % pid).read()
                out[pid] = (int(re.search(r"VmRSS:\s+(\d+)", st).group(1)),
                            int(re.search(r"RssAnon:\s+(\d+)", st).group(1)))
            except OSError:
                out[pid] = (0, 0)
        return out
    mem_before = worker_mem()

    results = []          # (section, result)
    pgvars = {"token": tok}

    # ------------------------------------------------------------ lists by firm size
    lists = []
    for n in SIZES:
        f = size_firms[n]
        t = f["token"]
        h2 = Http(t)
        pages = [("first page", None)] + [("offset %d" % o, o) for o in OFFSETS if o < n]
        for what, off in pages:
            params = {"limit": "50"}
            if off is not None:
                params["offset"] = str(off)
            path = "/v1/contacts?" + urllib.parse.urlencode(params)
            body = check(h2, "GET", path, 200)
            if len(body["data"]) != 50 or body["pagination"]["total"] != n:
                die("%s: %d records, total %s (want 50 of %d)"
                    % (path, len(body["data"]), body["pagination"]["total"], n))
            script = one_stmt("esqase_contacts_list('%s')" % json.dumps(params, separators=(",", ":")))
            r = measure("GET %s, firm of %d" % (path, n),
                        lambda c, s_: wrk(path, t, c, s_),
                        lambda c, s_, tx: pgbench("list", script, c, s_, {"token": t}, tx))
            if SMOKE:
                r["http1"], r["pg1"] = r["http"], r["same"]
            else:
                log("  one client")
                r["http1"] = wrk(path, t, 1, SECS)
                r["pg1"] = pgbench("list", script, 1, SECS, {"token": t})
            r.update(size=n, what=what, path=path)
            lists.append(r)

    # ------------------------------------------------------------ cursor walks
    walks = []
    psql("""
CREATE FUNCTION bench.walk(lim integer) RETURNS TABLE (pages int, rows bigint, ms float8[])
LANGUAGE plpgsql AS $$
DECLARE
    page jsonb;
    cur text;
    t timestamptz;
BEGIN
    pages := 0; rows := 0; ms := '{}';
    LOOP
        t := clock_timestamp();
        page := esqase_contacts_list(CASE WHEN cur IS NULL
                    THEN jsonb_build_object('limit', lim::text)
                    ELSE jsonb_build_object('limit', lim::text, 'cursor', cur) END);
        ms := ms || (extract(epoch FROM clock_timestamp() - t) * 1000)::float8;
        pages := pages + 1;
        rows := rows + jsonb_array_length(page -> 'data');
        cur := page -> 'pagination' ->> 'nextCursor';
        EXIT WHEN cur IS NULL;
    END LOOP;
    RETURN NEXT;
END $$;
GRANT USAGE ON SCHEMA bench TO PUBLIC;
""")
    for n in SIZES:
        f = size_firms[n]
        h2 = Http(f["token"])
        log("cursor walk, firm of %d" % n)
        first = check(h2, "GET", "/v1/contacts?limit=200", 200)
        if "nextCursor" not in first["pagination"]:
            walks.append({"size": n, "missing": True})
            continue
        seen = set()
        times = []
        cursor = None
        t_all = time.time()
        while True:
            path = "/v1/contacts?limit=200" + ("&cursor=" + urllib.parse.quote(cursor, safe="")
                                               if cursor else "")
            t1 = time.time()
            st, data = h2.req("GET", path)
            times.append((time.time() - t1) * 1000)
            if st != 200:
                die("cursor walk: %s answered %d: %s" % (path, st, data[:300]))
            body = json.loads(data)
            for x in body["data"]:
                if x["id"] in seen:
                    die("cursor walk of %d: %s twice" % (n, x["id"]))
                seen.add(x["id"])
            cursor = body["pagination"].get("nextCursor")
            if not cursor:
                break
        http_total = time.time() - t_all
        if len(seen) != n:
            die("cursor walk of %d contacts returned %d" % (n, len(seen)))
        out = as_key(f["token"], "SELECT pages, rows, ms FROM bench.walk(200);")
        pages, rows, ms = out.split("|")
        ms = sorted(float(x) for x in ms.strip("{}").split(","))
        if int(rows) != n:
            die("SQL cursor walk of %d contacts returned %s" % (n, rows))
        times.sort()
        walks.append({"size": n, "pages": len(times), "http_total": http_total,
                      "http_p50": pct(times, 50), "http_p99": pct(times, 99),
                      "sql_total": sum(ms) / 1000.0, "sql_p50": pct(ms, 50), "sql_p99": pct(ms, 99)})

    # ------------------------------------------------------------ CRUD
    lv = ["LOWEST", "LOW", "MEDIUM", "HIGH", "HIGHEST"]
    specs = {
        "contacts": {
            "sql": "contacts", "get": contacts[len(contacts) // 2],
            "create": json.dumps({"type": "PERSON", "firstName": "Bench", "lastName": "Create",
                                  "emails": ["bench@example.com"], "phones": ["+1-555-0100"]},
                                 separators=(",", ":")),
            "update_lua": 'string.format(\'{"firstName":"U%d"}\', math.random(1, 999999999))',
            "update_sql": "('{\"firstName\":\"U' || :v::text || '\"}')::jsonb",
            "marker": "type = 'PERSON' AND first_name = 'Bench' AND last_name = 'Create'",
            "list": "{}"},
        "practice-areas": {
            "sql": "practice_areas", "get": pa0,
            "create": '{"name":"Bench area"}',
            "update_lua": 'string.format(\'{"name":"Area U%d"}\', math.random(1, 999999999))',
            "update_sql": "('{\"name\":\"Area U' || :v::text || '\"}')::jsonb",
            "marker": "name = 'Bench area'", "list": "{}"},
        "matter-types": {
            "sql": "matter_types",
            "get": psql("SELECT id FROM esqase.matter_types WHERE firm_id = %s ORDER BY created_at "
                        "LIMIT 1" % q(crud["firm"])),
            "create": json.dumps({"practiceAreaId": pa_create, "name": "Bench type"},
                                 separators=(",", ":")),
            "update_lua": 'string.format(\'{"name":"Type U%d"}\', math.random(1, 999999999))',
            "update_sql": "('{\"name\":\"Type U' || :v::text || '\"}')::jsonb",
            "marker": "name = 'Bench type'",
            "list": json.dumps({"practiceAreaId": pas[2]}, separators=(",", ":"))},
        "matters": {
            "sql": "matters",
            "get": psql("SELECT id FROM esqase.matters WHERE firm_id = %s ORDER BY created_at "
                        "OFFSET %d LIMIT 1" % (q(crud["firm"]), nm // 2)),
            "create": matter_body(contacts[0], contacts[1], "Bench matter"),
            "update_lua": 'string.format(\'{"title":"Matter U%d"}\', math.random(1, 999999999))',
            "update_sql": "('{\"title\":\"Matter U' || :v::text || '\"}')::jsonb",
            "marker": "title = 'Bench matter'", "list": "{}"},
        "leads": {
            "sql": "leads",
            "get": psql("SELECT id FROM esqase.leads WHERE firm_id = %s ORDER BY created_at "
                        "OFFSET %d LIMIT 1" % (q(crud["firm"]), nl // 2)),
            "create": json.dumps({"type": "PERSON", "firstName": "Lead", "lastName": "Bench",
                                  "email": "lead@bench.example", "phone": "+1-555-0100",
                                  "practiceAreaId": pa0, "value": "HIGH"}, separators=(",", ":")),
            # value and stage: 20 combinations, so few updates change nothing
            "update_lua": ('string.format(\'{"value":"%%s","leadStageColumnId":"%%s"}\', '
                           'V[math.random(1, 5)], S[math.random(1, %d)])' % len(stages)),
            "lua_pre": "V = {%s}\nS = {%s}\n" % (",".join(lua_str(x) for x in lv),
                                                ",".join(lua_str(x) for x in stages)),
            "update_sql": ("('{\"value\":\"' || (%s::text[])[1 + :v::int %% 5] || "
                           "'\",\"leadStageColumnId\":\"' || (%s::text[])[1 + :v::int / 5 %% %d] || "
                           "'\"}')::jsonb" % (q("{" + ",".join(lv) + "}"),
                                              q("{" + ",".join(stages) + "}"), len(stages))),
            "marker": "id IN (SELECT l.id FROM esqase.leads l JOIN esqase.contacts c ON "
                      "c.firm_id = l.firm_id AND c.id = l.contact_id WHERE c.first_name = 'Lead' "
                      "AND c.last_name = 'Bench')",
            "list": "{}"},
    }
    # params as the HTTP layer passes them: every value a string
    for res, s in specs.items():
        s["list_params"] = json.dumps({k: str(v) for k, v in
                                       dict(json.loads(s["list"]), limit=50).items()},
                                      separators=(",", ":"))
        s["list_path"] = "/v1/%s?%s" % (res, urllib.parse.urlencode(
            dict(json.loads(s["list"]), limit=50)))

    # pre-flight: the exact status of every request the load runs send
    only = env.get("ESQASE_BENCH_RESOURCES", "").split()
    crud_specs = [(k, v) for k, v in specs.items()
                  if "crud" in PARTS and (not only or k in only)]
    for res, s in crud_specs:
        check(h, "GET", "/v1/%s/%s" % (res, s["get"]), 200)
        check(h, "GET", s["list_path"], 200)
        created = check(h, "POST", "/v1/" + res, 201, s["create"])["data"]["id"]
        check(h, "PATCH", "/v1/%s/%s" % (res, created), 200, {
            "contacts": '{"firstName":"P"}', "practice-areas": '{"name":"P"}',
            "matter-types": '{"name":"P"}', "matters": '{"title":"P"}',
            "leads": '{"value":"LOW"}'}[res])
        check(h, "DELETE", "/v1/%s/%s" % (res, created), 204)
        check(h, "GET", "/v1/%s/%s" % (res, created), 404)

    for res, s in crud_specs:
        fn = s["sql"]
        # GET
        path = "/v1/%s/%s" % (res, s["get"])
        script = one_stmt("esqase_%s_get(:id)" % fn)
        r = measure("GET /v1/%s/{id}" % res,
                    lambda c, t: wrk(path, tok, c, t),
                    lambda c, t, tx: pgbench("get", script, c, t, dict(pgvars, id=s["get"]), tx))
        r.update(res=res, op="get", sql="esqase_%s_get(id)" % fn)
        results.append(r)
        # list, first page
        script = one_stmt("esqase_%s_list('%s')" % (fn, s["list_params"]))
        r = measure("GET %s" % s["list_path"],
                    lambda c, t: wrk(s["list_path"], tok, c, t),
                    lambda c, t, tx: pgbench("list", script, c, t, pgvars, tx))
        r.update(res=res, op="list", sql="esqase_%s_list('%s')" % (fn, s["list_params"]))
        results.append(r)
        # update: random record of the pool, a new value each time
        upd = pool_ids("upd_" + res)
        lua = write_lua("update-" + res, s.get("lua_pre", "") + """
wrk.method = "PATCH"
wrk.headers["Content-Type"] = "application/json"
local ids = {%s}
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
function init(args)
  math.randomseed(os.time() * 100 + tid)
end
function request()
  return wrk.format(nil, "/v1/%s/" .. ids[math.random(1, #ids)], nil, %s)
end
""" % (",".join(lua_str(x) for x in upd), res, s["update_lua"]))
        script = ("\\set k random(0, %d)\n\\set v random(1, 999999999)\n" % (len(upd) - 1)
                  + one_stmt_pool("upd_" + res, "esqase_%s_update(p.id, %s)" % (fn, s["update_sql"])))
        r = measure("PATCH /v1/%s/{id}" % res,
                    lambda c, t: wrk("/v1/%s/{id}" % res, tok, c, t, lua),
                    lambda c, t, tx: pgbench("update", script, c, t, pgvars, tx))
        r.update(res=res, op="update", sql="esqase_%s_update(id, body)" % fn)
        results.append(r)
        # create
        lua = write_lua("create-" + res, """
wrk.method = "POST"
wrk.body = %s
wrk.headers["Content-Type"] = "application/json"
""" % lua_str(s["create"]))
        script = one_stmt("esqase_%s_create('%s')" % (fn, s["create"].replace("'", "''")))
        r = measure("POST /v1/%s" % res,
                    lambda c, t: wrk("/v1/" + res, tok, c, t, lua),
                    lambda c, t, tx: pgbench("create", script, c, t, pgvars, tx))
        r.update(res=res, op="create", sql="esqase_%s_create(body)" % fn)
        results.append(r)
        # delete: the records the creates made, topped up before each run
        pool_res = "del_" + res
        table = tables[res]
        marker_sql = ("SELECT id FROM esqase.%s WHERE firm_id = %s AND deleted_at IS NULL AND %s "
                      "AND id NOT IN (SELECT id FROM bench.pool WHERE res = %s) ORDER BY created_at, id"
                      % (table, q(crud["firm"]), s["marker"], q(pool_res)))
        pool_add(pool_res, psql(marker_sql).split())
        fastest = max(x["rps"] for rr in results if rr["res"] == res and rr["op"] in
                      ("create", "update") for x in (rr["http"], rr["same"], rr["best"]))
        state = {"next": 0, "done": 0, "rate": fastest * 2, "known": False}
        body = s["create"].replace("'", "''")

        def deleted_count(table=table, pool_res=pool_res):
            return psql("SELECT count(*), coalesce(max(p.k) + 1, 0) FROM bench.pool p JOIN "
                        "esqase.%s x ON x.firm_id = %s AND x.id = p.id WHERE p.res = %s AND "
                        "x.deleted_at IS NOT NULL" % (table, q(crud["firm"]), q(pool_res))
                        ).split("|")

        def ensure_pool(secs, tx_total, fn=fn, body=body, pool_res=pool_res, state=state,
                        marker_sql=marker_sql, res=res):
            """Enough unused records for one run (made through the SQL API in
            batches, outside the measured time)."""
            need = (tx_total if tx_total else int(state["rate"] * secs * 1.5)) + 300
            size = int(psql("SELECT count(*) FROM bench.pool WHERE res = %s" % q(pool_res)))
            short = need - (size - state["next"])
            if short > 0:
                log("  making %d more %s to delete" % (short, res))
                # 200 per transaction: thousands of updates of one public-id
                # counter row in one transaction slow down quadratically
                parallel([("SELECT count(esqase_%s_create('%s')) FROM generate_series(1, %d);"
                           % (fn, body, min(200, short - start)))
                          for start in range(0, short, 200)], tok)
                pool_add(pool_res, psql(marker_sql).split())
                psql("ANALYZE bench.pool")

        idfile = os.path.join(DIR, "del-%s.ids" % res)

        def http_delete(c, t, res=res, idfile=idfile, state=state, pool_res=pool_res):
            # each wrk thread walks its own stripe of the ids still unused;
            # a thread that runs out sends the nil uuid: a 404, which fails
            # the run (in smoke mode it stops instead)
            ensure_pool(t, 200 if SMOKE else None)
            ids = psql("SELECT id FROM bench.pool WHERE res = %s AND k >= %d ORDER BY k"
                       % (q(pool_res), state["next"])).split()
            if SMOKE:
                ids = ids[:200]
            with open(idfile, "w") as f:
                f.write("\n".join(ids) + "\n")
            os.chmod(idfile, 0o644)
            nthreads = min(THREADS, c)
            lua = write_lua("delete-" + res, """
local threads = 0
function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end
local ids = {}
local i = 0
function init(args)
  for line in io.lines(%s) do ids[#ids + 1] = line end
end
function request()
  local id = ids[tid + 1 + %d * i]
  i = i + 1
  if id == nil then
    %s
  end
  return wrk.format("DELETE", "/v1/%s/" .. id)
end
""" % (lua_str(idfile), nthreads,
       # smoke: the run is too short to size the ids by rate; once they
       # are used up, a request that answers 204 without writing (OPTIONS)
       # keeps the connections busy until the thread stops
       'return wrk.format("OPTIONS", "/v1/%s")' % res if SMOKE else
       'id = "00000000-0000-4000-8000-000000000000"',
       res) + ("""
function response(status, headers, body)
  if ids[tid + 1 + %d * i] == nil then wrk.thread:stop() end
end
""" % nthreads if SMOKE else ""))
            r = wrk("/v1/%s/{id}" % res, tok, c, t, lua)
            # requests wrk left in flight may still be deleting: let them end
            time.sleep(1.0)
            # wrk may have had requests in flight when the time ran out: take
            # the count from the table, and skip past the furthest stripe used
            used, nxt = deleted_count()
            state["done"], state["next"] = int(used), int(nxt)
            state["rate"] = max(state["rate"], r["rps"])
            return r

        script = ("\\set k :base + :client_id + :nclients * :i\n\\set i :i + 1\n"
                  + one_stmt_pool(pool_res, "esqase_%s_delete(p.id)" % fn))

        def pg_delete(c, t, tx, script=script, state=state, res=res):
            if not tx and not state["known"]:
                # the first run (16 clients) has a fixed number of transactions,
                # about t seconds' worth at twice the create or update rate:
                # after it the delete rate is known and the pool can be sized
                tx = max(20, int(state["rate"] * t / c))
            state["known"] = True
            ensure_pool(t, tx * c if tx else None)
            r = pgbench("delete", script, c, t,
                        dict(pgvars, base=state["next"], nclients=c, i=0), tx)
            # the pool must not run dry: every transaction deleted one record
            used, _ = deleted_count()
            if int(used) - state["done"] != r["n"]:
                die("delete %s: %d transactions but %d records deleted"
                    % (res, r["n"], int(used) - state["done"]))
            state["done"] = int(used)
            state["next"] += c * max(r["per_client"].values())
            state["rate"] = max(state["rate"], r["rps"])
            return r
        r = measure("DELETE /v1/%s/{id}" % res, http_delete, pg_delete, pg_first=True)
        r.update(res=res, op="delete", sql="esqase_%s_delete(id)" % fn)
        results.append(r)

    # cursor and offset together: a 400 naming the field
    st, data = Http(tok).req("GET", "/v1/contacts?limit=10&offset=10&cursor=x")
    cursor_offset = "%d %s" % (st, (json.loads(data).get("error") or {}).get("field")
                               if data.startswith(b"{") else "")


    # ------------------------------------------------------------ issue 16
    tx_rates, bulk_rates, costs, jit = {}, {}, {}, None
    if "tx" in PARTS:
        f, refs = tx_firm("Transaction LLP")
        g, grefs = tx_firm("Transaction baseline LLP")
        tx_rates, bulk_rates = one_transaction_rates(f, refs, g, grefs)
    if "costs" in PARTS:
        gid = psql("SELECT id FROM esqase.contacts WHERE firm_id = %s AND deleted_at IS NULL ORDER BY created_at, id "
                   "LIMIT 1" % q(crud["firm"]))
        script = one_stmt("esqase_contacts_get(:id)")
        v = {"token": tok, "id": gid}

        def backends_cpu():
            """CPU seconds of the postmaster's reaped children: pgbench's backends,
            once it has disconnected and they have exited."""
            pm = open(os.path.join(DIR, "data", "postmaster.pid")).readline().strip()
            return stat_cpu(open("/proc/%s/stat" % pm).read(), children=True)

        def rls_run(user, name):
            """(tps, the backends' CPU µs per transaction): steadier than tps here."""
            c0 = backends_cpu()
            tps, n = pgbench_as(user, name, script, 2, SECS, v, SMOKE_TX if SMOKE else None, with_n=True)
            time.sleep(0.5)
            return tps, (backends_cpu() - c0) * 1e6 / max(n, 1)
        a, b = paired("RLS cost: GET of a contact in SQL, API role vs superuser",
                      lambda: rls_run("esqase_bench", "rls_api"), lambda: rls_run("postgres", "rls_su"))
        costs["rls_get"] = (median([x for x, _ in a]), median([x for x, _ in b]))
        costs["rls_get_ratios"] = sorted(x[0] / y[0] for x, y in zip(a, b))
        costs["rls_get_cpu"] = (median([y for _, y in a]), median([y for _, y in b]))
        costs["rls_get_cpu_ratios"] = sorted(y[1] / x[1] for x, y in zip(a, b))
        big_n = max(SIZES) if SIZES else None
        lf = size_firms[200000 if 200000 in size_firms else big_n] if big_n else crud
        script = one_stmt("esqase_contacts_list('{\"limit\":\"50\"}')")
        v = {"token": lf["token"]}
        a, b = paired("list page in SQL, one client, API role vs superuser",
                      lambda: pgbench_as("esqase_bench", "list_api", script, 1, SECS, v, SMOKE_TX if SMOKE else None),
                      lambda: pgbench_as("postgres", "list_su", script, 1, SECS, v, SMOKE_TX if SMOKE else None))
        costs["list_sql"] = (median(a), median(b), 200000 if 200000 in size_firms else (big_n or nc))
        path = "/v1/contacts/%s" % gid

        def workers_cpu():
            """CPU seconds the HTTP workers have used (their own accounting)."""
            t = 0
            for pid in worker_pids:
                try:
                    t += stat_cpu(open("/proc/%s/stat" % pid).read())
                except OSError:
                    pass
            return t

        def get_run():
            """(req/s, the workers' CPU µs per request): on this shared machine the
            CPU a request costs its worker moves far less with other load than req/s."""
            c0 = workers_cpu()
            r = wrk(path, tok, CLIENTS, SECS)
            return r["rps"], (workers_cpu() - c0) * 1e6 / r["n"]

        def log_off():
            set_conf("esqase.http_log_level", "'debug1'")
            try:
                return get_run()
            finally:
                set_conf("esqase.http_log_level", "DEFAULT")

        def log_file():
            set_conf("esqase.http_access_log", "'bench-access.log'")
            try:
                return get_run()
            finally:
                set_conf("esqase.http_access_log", "DEFAULT")
        a, b, c = [], [], []
        for i in range(COST_PAIRS):
            log("request log: GET of a contact over HTTP, server log / access-log file / off, round %d"
                % (i + 1))
            a.append(get_run())
            c.append(log_file())
            b.append(log_off())
        costs["log"] = {
            "server": median([x for x, _ in a]), "file": median([x for x, _ in c]),
            "off": median([x for x, _ in b]),
            "server_cpu": median([y for _, y in a]), "file_cpu": median([y for _, y in c]),
            "off_cpu": median([y for _, y in b]),
            # throughput ratios, and CPU ratios (off / on: as a throughput ratio), each round
            "server_r": sorted(x[0] / y[0] for x, y in zip(a, b)),
            "file_r": sorted(x[0] / y[0] for x, y in zip(c, b)),
            "server_cr": sorted(y[1] / x[1] for x, y in zip(a, b)),
            "file_cr": sorted(y[1] / x[1] for x, y in zip(c, b))}

        # Reads under writes: a GET's answer waits for the flush of the asynchronous
        # commits of its firm it could see (src/http_durable.c).  GETs alone, then with
        # POSTs at once to the same firm, then to another firm; half the connections each.
        other = new_firm("Other Writes LLP")
        # firms share 64 slots by a byte of their id: say so if these two share one
        same_slot = (int(crud["firm"].replace("-", "")[24:26], 16) % 64
                     == int(other["firm"].replace("-", "")[24:26], 16) % 64)
        post_lua = write_lua("mixed-post", """
wrk.method = "POST"
wrk.body = %s
wrk.headers["Content-Type"] = "application/json"
""" % lua_str(specs["contacts"]["create"]))
        half = max(1, CLIENTS // 2)

        def mixed(post_token):
            out = {}
            t = threading.Thread(target=lambda: out.update(
                post=wrk("/v1/contacts", post_token, half, SECS, post_lua)["rps"]))
            t.start()
            g = wrk(path, tok, half, SECS)["rps"]
            t.join()
            if "post" not in out:
                die("the POST run beside the GETs failed")
            return g, out["post"]
        alone, same, diff = [], [], []
        for i in range(COST_PAIRS):
            log("reads under writes: GET alone / with POSTs to its firm / to another firm, round %d" % (i + 1))
            alone.append(wrk(path, tok, half, SECS)["rps"])
            same.append(mixed(tok))
            diff.append(mixed(other["token"]))
        costs["mixed"] = {
            "conns": half, "alone": median(alone),
            "same_get": median([g for g, _ in same]), "same_post": median([p for _, p in same]),
            "other_get": median([g for g, _ in diff]), "other_post": median([p for _, p in diff]),
            "same_ratios": sorted(g / a for (g, _), a in zip(same, alone)),
            "other_ratios": sorted(g / a for (g, _), a in zip(diff, alone)),
            "same_slot": same_slot}

        # JIT: every request once over HTTP and in SQL, nested statements counted
        log("JIT check")
        set_conf("pg_stat_statements.track", "'all'")
        psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset();")
        for res, s_ in specs.items():
            check(h, "GET", "/v1/%s/%s" % (res, s_["get"]), 200)
            check(h, "GET", s_["list_path"], 200)
            created = check(h, "POST", "/v1/" + res, 201, s_["create"])["data"]["id"]
            check(h, "DELETE", "/v1/%s/%s" % (res, created), 204)
            as_key(tok, "SELECT esqase_%s_get(%s) \\g /dev/null\nSELECT esqase_%s_list(%s) \\g /dev/null"
                   % (s_["sql"], q(s_["get"]), s_["sql"], q(s_["list_params"])))
        for n in SIZES:
            check(Http(size_firms[n]["token"]), "GET", "/v1/contacts?limit=50", 200)
        jit = psql("SELECT count(*) || '|' || coalesce(sum(jit_functions), 0) FROM pg_stat_statements "
                   "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = 'esqase_bench') "
                   "AND query NOT LIKE '%pg_stat_statements%'").split("|")
        jit.append(psql("SELECT current_setting('jit') || ', jit_above_cost = ' || current_setting('jit_above_cost')"))
        set_conf("pg_stat_statements.track", "'none'")

    mem_after = worker_mem()
    note_busy()
    total_time = time.time() - T0

    # ------------------------------------------------------------ report
    out = []
    w = out.append
    w("Generated by `tools/bench.sh`%s on %s UTC." % (" (smoke mode)" if SMOKE else "",
                                                     time.strftime("%Y-%m-%d %H:%M", time.gmtime())))
    w("")
    w("- esqase `%s`, %s, %s" % (git, pg_version, wrk_version))
    w("- machine: %d CPUs (%s), %d MB RAM, kernel %s; load average before: %s"
      % (os.cpu_count(), cpu, mem, os.uname().release, " ".join(load_before)))
    w("- HTTP: wrk, %d connections, %d threads, keep-alive, %d s per run; esqase.http_workers = %s "
      "(%d worker processes)" % (CLIENTS, THREADS, SECS, http_workers, len(worker_pids)))
    w("- pgbench -M prepared, one statement per request (`SELECT esqase_<res>_<op>(...) FROM "
      "(SELECT esqase_authenticate(:token) OFFSET 0) AS a`), over loopback TCP as a role whose "
      "session role is esqase_api; %s; best of %s clients (%s)"
      % ("%d transactions per client" % SMOKE_TX if SMOKE else
         "%d s at %d clients, %d s at the others" % (SECS, CLIENTS, SWEEP_SECS),
         ", ".join(str(c) for c in sorted(set(SWEEP + [CLIENTS]))),
         "smoke" if SMOKE else "one run each"))
    w("- seeding: %s; whole run %.0f s (seeding and set-up %.0f s)"
      % (", ".join("%d contacts in %.0f s" % (n, seed_times[n]) for n in SIZES),
         total_time, seed_total))
    if other_cpu:
        w("- other processes on the machine (not this benchmark) used on average %.0f%% of one "
          "CPU during the measurements (at most %.0f%% during one request's runs)%s"
          % (sum(other_cpu) / len(other_cpu), max(other_cpu),
             "; **numbers are skewed by that load**" if max(other_cpu) > 20 else ""))
    if busy:
        w("- **WARNING: other test runs were seen during the benchmark (%d processes), numbers "
          "are not comparable:** %s" % (len(busy), "; ".join(
              sorted(set("prove" if "prove" in v else "pg_regress" if "regress" in v else
                         os.path.basename(v.split()[0]) for v in busy.values())))))
    w("")

    def fr(x):
        return "%.0f" % x["rps"]

    def fl(x):
        return "%.2f / %.2f" % (x["p50"], x["p99"])

    w("### Every resource (CRUD firm: %d contacts, %d practice areas, %d matter types, "
      "%d matters with 2 clients and 2 team members, %d leads)" % (nc, npa, nmt, nm, nl))
    w("")
    w("Throughput in requests (transactions) per second; latency p50 / p99 in ms. "
      "\"pgbench @%d\" is the same concurrency as HTTP; \"best\" is pgbench's best client count."
      % CLIENTS)
    w("")
    w("| request | HTTP req/s | HTTP p50 / p99 | pgbench @%d | p50 / p99 | pgbench best (clients) "
      "| p50 / p99 | HTTP / @%d | HTTP / best | pgbench tps by clients |" % (CLIENTS, CLIENTS))
    w("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in results:
        w("| `%s` | %s | %s | %s | %s | %s (%d) | %s | %.2f | %.2f | %s |"
          % (r["label"], fr(r["http"]), fl(r["http"]), fr(r["same"]), fl(r["same"]),
             fr(r["best"]), r["best"]["clients"], fl(r["best"]),
             r["http"]["rps"] / r["same"]["rps"], r["http"]["rps"] / r["best"]["rps"],
             " ".join("%d:%.0f" % (c, v) for c, v in sorted(r["sweep"].items()))))
    w("")
    get_contact = next((r for r in results if r["res"] == "contacts" and r["op"] == "get"), None)
    if get_contact:
        w("GET of each resource against GET of a contact, over HTTP: " + ", ".join(
        "%s %.2f×" % (r["res"], r["http"]["rps"] / get_contact["http"]["rps"])
            for r in results if r["op"] == "get"))
        w("")
    w("### Contact list pages by firm size")
    w("")
    w("`limit=50`. One client: p50 / p99 latency in ms (HTTP `wrk -c 1`, pgbench `-c 1`). "
      "Throughput at %d HTTP connections and pgbench at %d clients and at its best." % (CLIENTS, CLIENTS))
    w("")
    w("| firm | page | HTTP 1 client p50 / p99 | pgbench 1 client p50 / p99 | HTTP req/s | "
      "pgbench @%d | pgbench best (clients) | HTTP / @%d | HTTP / best |" % (CLIENTS, CLIENTS))
    w("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in lists:
        w("| %d | %s | %s | %s | %s | %s | %s (%d) | %.2f | %.2f |"
          % (r["size"], r["what"], fl(r["http1"]), fl(r["pg1"]), fr(r["http"]), fr(r["same"]),
             fr(r["best"]), r["best"]["clients"], r["http"]["rps"] / r["same"]["rps"],
             r["http"]["rps"] / r["best"]["rps"]))
    w("")
    w("### Cursor walk of a whole firm (`limit=200`, one client, following `nextCursor`)")
    w("")
    w("| firm | pages | HTTP total (s) | HTTP per page p50 / p99 (ms) | SQL total (s) | "
      "SQL per page p50 / p99 (ms) |")
    w("|---:|---:|---:|---:|---:|---:|")
    for x in walks:
        if x.get("missing"):
            w("| %d | no `nextCursor` in this build | | | | |" % x["size"])
        else:
            w("| %d | %d | %.1f | %.2f / %.2f | %.1f | %.2f / %.2f |"
              % (x["size"], x["pages"], x["http_total"], x["http_p50"], x["http_p99"],
                 x["sql_total"], x["sql_p50"], x["sql_p99"]))
    w("")
    w("SQL: `bench.walk(200)`, a PL/pgSQL loop calling `esqase_contacts_list` with each "
      "`nextCursor`, in one transaction (server time only, no transport). "
      "`?offset=10&cursor=x` answered: %s." % cursor_offset)
    w("")
    w("HTTP worker memory (kB), before the first and after the last HTTP run: " + "; ".join(
        "VmRSS %d → %d, RssAnon %d → %d" % (mem_before[p][0], mem_after[p][0], mem_before[p][1],
                                           mem_after[p][1]) for p in worker_pids))
    w("")

    # goals
    w("### Goals (issue 7)")
    w("")
    w("| goal | measured | target | |")
    w("|---|---:|---:|---|")
    small = 1000 if 1000 in SIZES else min(SIZES or [0])
    big = 200000 if 200000 in SIZES else max(SIZES or [0])

    def lget(size, what):
        return next((r for r in lists if r["size"] == size and r["what"] == what), None)

    def goal(name, value, fmt, target, ok):
        w("| %s | %s | %s | %s |" % (name, fmt % value if value is not None else "not measured",
                                      target, "n/a" if value is None else
                                      ("**met**" if ok else "**missed**")))
    a, b = lget(small, "first page"), lget(big, "first page")
    goal("list page latency, one client, firm of %d vs %d (HTTP p50)" % (big, small),
         b["http1"]["p50"] / a["http1"]["p50"] if a and b else None, "%.3f×", "≤ 1.5×",
         a and b and b["http1"]["p50"] / a["http1"]["p50"] <= 1.5)
    goal("`GET /v1/contacts?limit=50`, firm of %d, HTTP" % big,
         b["http"]["rps"] if b else None, "%.0f req/s", "≥ 1,000 req/s",
         b and b["http"]["rps"] >= 1000)
    off = min(OFFSETS)
    c = lget(big, "offset %d" % off)
    goal("page at offset %d, firm of %d, one client (HTTP p50)" % (off, big),
         c["http1"]["p50"] if c else None, "%.1f ms", "≤ 20 ms", c and c["http1"]["p50"] <= 20)
    for r in results:
        if r["op"] == "get" and r["res"] != "contacts":
            v = r["http"]["rps"] / get_contact["http"]["rps"]
            goal("GET %s vs GET contact, HTTP req/s" % r["res"], v, "%.3f×", "≥ 0.7×", v >= 0.7)
    pc = next((r for r in results if r["res"] == "contacts" and r["op"] == "create"), None)
    v = pc and pc["http"]["rps"] / pc["same"]["rps"]
    goal("`POST /v1/contacts` HTTP vs pgbench, %d clients" % CLIENTS, v, "%.3f×", "≥ 0.95×",
         v and v >= 0.95)
    v = get_contact and get_contact["http"]["rps"] / get_contact["best"]["rps"]
    goal("`GET /v1/contacts/{id}` HTTP vs best pgbench (%s clients)"
         % (get_contact["best"]["clients"] if get_contact else "?"), v, "%.3f×", "≥ 0.9×",
         v and v >= 0.9)
    w("")


    # issue 16
    if tx_rates or costs:
        w("### Under the settings users run (issue 16)")
        w("")
        w("Server defaults (`jit` %s); pgbench as the API role, the superuser where said (no "
          "row-level security); costs are medians of %d alternating pairs of runs."
          % (jit[2] if jit else psql("SELECT current_setting('jit')"), COST_PAIRS))
        w("")
    if tx_rates:
        small, big = ONETX[0], ONETX[-1]
        w("One create per call in one transaction (rolled back): %d records in chunks of %d; before "
          "and after each of its last %d chunks, a fresh transaction of %d creates in another firm "
          "(another backend, rolled back), so that each chunk at the end of the large transaction is "
          "timed beside its baseline. Records per second by the wall clock (by the backend's CPU "
          "time); the goal is the paired ratio, the median over the last chunks of a chunk's rate "
          "over that of the fresh runs around it:" % (big, small, min(TX_PAIRS, big // small), small))
        w("")
        w("| resource | fresh, n = %d (median) | n = %d, whole run | whole / fresh | last chunks / fresh, paired (each pair) |"
          % (small, big))
        w("|---|---:|---:|---:|---|")
        for res in TX_BODIES:
            w("| %s | %.0f (%.0f) | %.0f (%.0f) | %.2f (%.2f) | **%.2f** (%s) |"
              % (res, tx_rates[(res, small)], tx_rates[(res + " cpu", small)], tx_rates[(res, big)],
                 tx_rates[(res + " cpu", big)], tx_rates[(res, big)] / tx_rates[(res, small)],
                 tx_rates[(res + " cpu", big)] / tx_rates[(res + " cpu", small)],
                 tx_rates[(res + " paired", big)],
                 ", ".join("%.2f" % x for x in tx_rates[(res + " pairs", big)])))
        w("")
        w("Bulk creates, %d records in one transaction, %d per call: %s."
          % (BULK, min(BULK_BATCH, BULK), ", ".join(
              "`esqase_%s_create_many` %.0f/s (%.1f× one create per call at n = %d; by CPU %.0f/s, %.1f×)"
              % (res, bulk_rates[res], bulk_rates[res] / tx_rates[(res, ONETX[0])], ONETX[0],
                 bulk_rates[res + " cpu"], bulk_rates[res + " cpu"] / tx_rates[(res + " cpu", ONETX[0])])
              for res in ("contacts", "leads"))))
        w("Its parts, for %d contacts: the checks alone (`esqase.contact_new`, the PL/pgSQL one create "
          "runs) %.0f/s (by CPU %.0f/s); the same rows by a plain `INSERT ... SELECT` into `esqase.contacts` "
          "with every trigger (search document, audit row, totals) %.0f/s (by CPU %.0f/s)."
          % (min(BULK_BATCH, BULK), bulk_rates["checks"], bulk_rates["checks cpu"], bulk_rates["insert"],
             bulk_rates["insert cpu"]))
        w("")
    if costs:
        a, b = costs["rls_get"]
        ca, cb = costs["rls_get_cpu"]
        w("- `GET` of a contact in SQL (pgbench -M prepared, 2 clients): API role %.0f tps, superuser "
          "%.0f tps (%.2f; ratios of each pair: %s); the backends' CPU per transaction %.0f and %.0f µs "
          "(superuser / API role, the throughput ratio when the server is the bound: %.3f; pairs %s)."
          % (a, b, a / b, ", ".join("%.2f" % x for x in costs["rls_get_ratios"]), ca, cb,
             median(costs["rls_get_cpu_ratios"]),
             ", ".join("%.2f" % x for x in costs["rls_get_cpu_ratios"])))
        a, b, n = costs["list_sql"]
        w("- `esqase_contacts_list('{\"limit\":\"50\"}')`, firm of %d, one client: API role %.2f ms, "
          "superuser %.2f ms (%.2f×)." % (n, 1000 / a, 1000 / b, b / a))
        lg = costs["log"]

        def rounds(xs):
            return ", ".join("%.2f" % x for x in xs)
        w("- `GET /v1/contacts/{id}` over HTTP, request log in the server log (the default) / in an "
          "access-log file (`esqase.http_access_log`) / off (`debug1`): %.0f / %.0f / %.0f req/s "
          "(on / off %.3f and %.3f; rounds %s and %s); the HTTP workers' CPU per request %.0f / %.0f / "
          "%.0f µs (off / on, the throughput ratio when the workers are the bound: %.3f and %.3f; "
          "rounds %s and %s)."
          % (lg["server"], lg["file"], lg["off"], lg["server"] / lg["off"], lg["file"] / lg["off"],
             rounds(lg["server_r"]), rounds(lg["file_r"]), lg["server_cpu"], lg["file_cpu"],
             lg["off_cpu"], median(lg["server_cr"]), median(lg["file_cr"]), rounds(lg["server_cr"]),
             rounds(lg["file_cr"])))
        m = costs.get("mixed")
        if m:
            w("- Reads under writes, over HTTP, %d connections of `GET /v1/contacts/{id}`: alone %.0f req/s; "
              "with %d connections of `POST /v1/contacts` at once to the same firm, GET %.0f req/s (%.2f of "
              "alone; rounds %s), POST %.0f req/s; to another firm, GET %.0f req/s (%.2f; rounds %s), POST "
              "%.0f req/s%s."
              % (m["conns"], m["alone"], m["conns"], m["same_get"], m["same_get"] / m["alone"],
                 ", ".join("%.2f" % x for x in m["same_ratios"]), m["same_post"], m["other_get"],
                 m["other_get"] / m["alone"], ", ".join("%.2f" % x for x in m["other_ratios"]),
                 m["other_post"], " (the two firms share a slot of asynchronous commits: the other "
                 "firm's writes hold the GETs too)" if m["same_slot"] else ""))
        if jit:
            w("- JIT: %s functions JIT-compiled by the %s statements esqase ran (every request once "
              "over HTTP and in SQL, pg_stat_statements.track = all; server: jit = %s)."
              % (jit[1], jit[0], jit[2]))
        w("")
        w("| goal (issue 16) | measured | target | |")
        w("|---|---:|---:|---|")
        big_list = lget(200000 if 200000 in SIZES else big, "first page")
        goal("`GET /v1/contacts?limit=50`, firm of %d, %d connections, server defaults"
             % (200000 if 200000 in SIZES else big, CLIENTS),
             big_list["http"]["rps"] if big_list else None, "%.0f req/s", "≥ 1,000 req/s",
             big_list and big_list["http"]["rps"] >= 1000)
        a, b, n = costs["list_sql"]
        goal("one list call in SQL as `esqase_api` vs superuser, firm of %d" % n, b / a, "%.2f×", "≤ 2×",
             b / a <= 2)
        for res in TX_BODIES:
            if tx_rates:
                v = tx_rates[(res + " paired", ONETX[-1])]
                goal("`esqase_%s_create` in one transaction, rate at %d / at %d (paired)"
                     % (res, ONETX[-1], ONETX[0]), v, "%.2f", "≥ 0.9", v >= 0.9)
        if bulk_rates:
            v = bulk_rates["contacts"] / tx_rates[("contacts", ONETX[0])]
            goal("bulk create vs one `esqase_contacts_create` per call, one transaction", v, "%.1f×", "≥ 10×",
                 v >= 10)
            v = bulk_rates["contacts cpu"] / tx_rates[("contacts cpu", ONETX[0])]
            goal("the same, by the backend's CPU per record", v, "%.1f×", "≥ 10×", v >= 10)
        v = median(costs["rls_get_cpu_ratios"])
        goal("`GET` of a contact in SQL, `esqase_api` / superuser (backends' CPU per transaction)", v, "%.3f",
             "≥ 0.9", v >= 0.9)
        lg = costs["log"]
        for k, name in (("server", "in the server log (the default)"),
                        ("file", "to `esqase.http_access_log`")):
            v = median(lg[k + "_cr"])
            goal("`GET` of a contact over HTTP, request log %s / off (workers' CPU per request)" % name,
                 v, "%.3f", "≥ 0.97", v >= 0.97)
        if jit:
            goal("functions JIT-compiled by API statements", int(jit[1]), "%d", "0", int(jit[1]) == 0)
        w("")

    if wh:
        out.extend(webhook_report(wh))
    report = "\n".join(out)
    print(report)
    if REPORT:
        begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
        old = open(REPORT).read() if os.path.exists(REPORT) else ""
        if begin in old and end in old:
            new = old[:old.index(begin) + len(begin)] + "\n" + report + "\n" + old[old.index(end):]
        else:
            new = report + "\n"
        with open(REPORT, "w") as f:
            f.write(new)
        log("report written to %s" % REPORT)
    log("done in %.0f s" % total_time)


if __name__ == "__main__":
    main()
