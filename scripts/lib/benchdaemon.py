"""A real connector-hostd for the benchmark scripts: its own directory, host.toml, admin socket and
store, secrets set through hostctl before the connectors that need them start."""
import http.client, json, os, shutil, signal, socket, sqlite3, subprocess, tempfile, time, urllib.parse


class Daemon:
    def __init__(self, bin_dir, connectors, host_extra="", secrets=(), prefix="chbench-"):
        """secrets: (connector, name, value) stored before `connectors` are loaded (the daemon starts
        without them, takes the secrets, then reloads its configuration)."""
        self.bin = bin_dir
        self.dir = tempfile.mkdtemp(prefix=prefix, dir="/tmp")
        os.makedirs(f"{self.dir}/run", exist_ok=True)
        self.host_extra = host_extra
        self.write("" if secrets else connectors)
        self.log = open(f"{self.dir}/daemon.log", "w")
        self.started = time.monotonic()
        self.started_wall = time.time()
        self.proc = subprocess.Popen([f"{bin_dir}/connector-hostd", "--config", f"{self.dir}/host.toml"], stdout=self.log, stderr=self.log)
        self.wait_for(lambda: os.path.exists(f"{self.dir}/state/connector-host.sqlite") and os.path.exists(f"{self.dir}/run/admin.sock"), 20)
        if secrets:
            for connector, name, value in secrets:
                self.hostctl("secret", "set", connector, name, input=value)
            self.write(connectors)
            self.hostctl("reload")

    def write(self, connectors):
        with open(f"{self.dir}/host.toml", "w") as f:
            f.write(f'state_dir = "state"\nruntime_dir = "run"\nplugin_dirs = ["{self.bin}"]\nlog_level = "warning"\n'
                    f'{self.host_extra}\n\n{connectors}\n')

    def hostctl(self, *argv, input=None):
        return subprocess.run([f"{self.bin}/hostctl", *argv, "--socket", f"{self.dir}/run/admin.sock"], input=input,
                              capture_output=True, text=True, check=True).stdout

    def admin(self, method, params=None):
        s = socket.socket(socket.AF_UNIX)
        s.connect(f"{self.dir}/run/admin.sock")
        s.sendall((json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}) + "\n").encode())
        data = b""
        while not data.endswith(b"\n"):
            data += s.recv(1 << 20)
        s.close()
        return json.loads(data)["result"]

    def wait_for(self, condition, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if condition():
                    return
            except Exception:
                pass
            time.sleep(0.02)
        raise SystemExit("daemon did not get ready: " + open(f"{self.dir}/daemon.log").read()[-2000:])

    def db(self):
        return sqlite3.connect(f"file:{self.dir}/state/connector-host.sqlite?mode=ro", uri=True, timeout=30)

    def count(self, sql):
        with self.db() as c:
            return c.execute(sql).fetchone()[0]

    def cpu_seconds(self):
        """CPU seconds used so far by the daemon and by each of its plugin processes."""
        return {"daemon": cpu_seconds(self.proc.pid), "plugins": [cpu_seconds(pid) for pid in children(self.proc.pid)]}

    def rss_kib(self):
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])

    def wait(self, sql, target, timeout=600):
        """Seconds from the daemon's start until `sql` counts `target` (polled 4 times a second, so
        that the benchmark's own queries stay out of the way; callers refine the end from the store)."""
        deadline = time.time() + timeout
        while True:
            n = self.count(sql)
            if n >= target:
                return time.monotonic() - self.started
            if time.time() > deadline:
                raise SystemExit(f"timed out: {sql} = {n} < {target}")
            time.sleep(0.25)

    def since_start(self, sql):
        """Seconds from the daemon's start to a time stamp (ms since the epoch) the store recorded."""
        return self.count(sql) / 1000 - self.started_wall

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


def children(pid):
    """The processes whose parent is `pid` (a daemon's plugins), from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry))
            except OSError:
                pass
    return found


def cpu_seconds(pid):
    """User and system CPU seconds a process has used so far."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http_json(url, method="GET", body=None, headers=None, timeout=None):
    """One JSON request to a loopback fake; its JSON answer, or the run stops with what it said."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=None if body is None else json.dumps(body),
                 headers={"Content-Type": "application/json", **(headers or {})})
    answer = conn.getresponse()
    data = json.loads(answer.read())
    conn.close()
    if answer.status != 200:
        raise SystemExit(f"{method} {url}: {answer.status} {data}")
    return data


def start_loopback(argv, log=os.devnull):
    """Starts a fake of Tests/Fakes (it prints `listening 127.0.0.1:PORT` first): the process and its base URL."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=open(log, "a"), text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("listening "):
        raise SystemExit(f"{argv[1]} did not start: {line}")
    return proc, f"http://{line.split()[1]}"
