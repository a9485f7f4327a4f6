//! The Python side of `gym:` envs: one child process running `python/eirl_gym_bridge.py`
//! (embedded here, run as `python -c <script>`, so it works from any working directory), its
//! framed protocol over the child's stdin/stdout, a watchdog that kills a child that does not
//! answer in time, and a small pool of idle children.
//!
//! Frames are a little-endian u32 byte count and the bytes; the request and reply layouts are
//! documented in the script. A dead child shows as end of file on its stdout (the call fails
//! with its exit status and the tail of its stderr); a child that does not answer within the
//! timeout is killed by the watchdog, which makes the pending read fail the same way, so no
//! call hangs.
//!
//! Idle pool: starting Python and importing Gymnasium takes about half a second, and eirl makes
//! short-lived single envs often (one per recorded or DAgger episode, one to read the spaces of
//! an id). A healthy bridge whose env is dropped closes its Gymnasium envs and waits in a pool
//! of at most [`MAX_IDLE`] processes for the next `gym:` env of the same interpreter, which
//! makes its own envs afresh (`M` request). Everything else (a broken bridge, a full pool) is
//! killed and reaped on drop. Idle children exit by themselves when eirl exits (their stdin
//! reaches end of file).

use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

/// The bridge script, shipped inside the binary.
pub(crate) const SCRIPT: &str = include_str!("../../../python/eirl_gym_bridge.py");

/// The protocol version the script must announce in its hello.
const PROTOCOL: &str = "eirl-gym-bridge 1 ";

/// Most idle bridge processes kept for reuse.
pub(crate) const MAX_IDLE: usize = 4;

/// How long one request may take when neither `EIRL_GYM_TIMEOUT` nor
/// [`crate::GymEnv::set_timeout`] says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Bytes of the child's stderr kept for error messages.
const STDERR_TAIL: usize = 8192;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

static PYTHON: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Chooses the Python interpreter of `gym:` envs made from now on (`None`: back to the default,
/// `EIRL_PYTHON`, else `python3`). For embedding programs and tests, which cannot set
/// environment variables safely once threads run.
pub fn set_gym_python(python: Option<PathBuf>) {
    *lock(&PYTHON) = python;
}

/// The Python interpreter `gym:` envs run in: the one set by [`set_gym_python`], else
/// `EIRL_PYTHON` when set and not empty, else `python3` from `PATH`.
pub fn gym_python() -> PathBuf {
    if let Some(p) = lock(&PYTHON).clone() {
        return p;
    }
    match std::env::var_os("EIRL_PYTHON").filter(|p| !p.is_empty()) {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from("python3"),
    }
}

/// `EIRL_GYM_TIMEOUT` (seconds, > 0), else [`DEFAULT_TIMEOUT`].
pub(crate) fn default_timeout() -> Duration {
    std::env::var("EIRL_GYM_TIMEOUT")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|s| s.is_finite() && *s > 0.0)
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs_f64)
}

/// Why a call failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The request was answered with an error (the env raised, or refused the request); the
    /// bridge still works.
    Refused(String),
    /// The child is gone, was killed for not answering, or broke the protocol; the bridge is
    /// unusable.
    Dead(String),
}

/// What the watchdog shares with a bridge: the child, to kill it, and the deadline of the
/// request in flight.
struct Watched {
    child: Mutex<Child>,
    /// Milliseconds since [`epoch`] by which the reply must have come; 0 when idle.
    deadline_ms: AtomicU64,
    timed_out: AtomicBool,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ms() -> u64 {
    u64::try_from(epoch().elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Registers `w` with the one watchdog thread (started on first use), which checks every
/// 50 ms for requests past their deadline and kills their child.
fn watch(w: &Arc<Watched>) {
    static LIST: Mutex<Vec<Weak<Watched>>> = Mutex::new(Vec::new());
    static STARTED: OnceLock<bool> = OnceLock::new();
    lock(&LIST).push(Arc::downgrade(w));
    STARTED.get_or_init(|| {
        std::thread::Builder::new()
            .name("eirl-gym-watchdog".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(Duration::from_millis(50));
                    let now = now_ms();
                    let mut list = lock(&LIST);
                    list.retain(|w| w.strong_count() > 0);
                    for w in list.iter().filter_map(Weak::upgrade) {
                        let d = w.deadline_ms.load(Ordering::Acquire);
                        if d != 0 && now > d && !w.timed_out.swap(true, Ordering::AcqRel) {
                            let _ = lock(&w.child).kill();
                        }
                    }
                }
            })
            .is_ok()
    });
}

/// One running bridge process.
pub(crate) struct Bridge {
    python: PathBuf,
    pid: u32,
    watched: Arc<Watched>,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    stderr: Arc<Mutex<Vec<u8>>>,
    request: Vec<u8>,
    reply: Vec<u8>,
    broken: bool,
    timeout: Duration,
    /// The script's hello: protocol, Gymnasium, NumPy and Python versions.
    pub(crate) hello: String,
}

/// The interpreter cannot be started: how to get one.
fn no_python(python: &Path, e: &std::io::Error) -> String {
    format!(
        "cannot start Python `{}` ({e}); gym: envs need a Python 3 with Gymnasium, e.g. \
         `python3 -m venv .venv-py && .venv-py/bin/pip install gymnasium` (or `-r \
         python/requirements.txt`), then EIRL_PYTHON=.venv-py/bin/python",
        python.display()
    )
}

/// The interpreter runs but the bridge cannot: how to install Gymnasium into it.
fn no_gymnasium(python: &Path, what: &str) -> String {
    let py = python.display();
    format!(
        "{what}; gym: envs need Gymnasium: install it with `{py} -m pip install gymnasium` (or \
         `-r python/requirements.txt`), or set EIRL_PYTHON to a Python that has it"
    )
}

impl Bridge {
    /// Starts `python -c <script>` and reads its hello.
    fn spawn(python: &Path) -> Result<Bridge, String> {
        let mut child = Command::new(python)
            .arg("-c")
            .arg(SCRIPT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| no_python(python, &e))?;
        let pid = child.id();
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            let _ = child.kill();
            let _ = child.wait();
            return Err("the Python child has no pipes".into());
        };
        let tail = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&tail);
        let drain = std::thread::Builder::new()
            .name("eirl-gym-stderr".into())
            .spawn(move || drain_stderr(stderr, &sink));
        let watched = Arc::new(Watched {
            child: Mutex::new(child),
            deadline_ms: AtomicU64::new(0),
            timed_out: AtomicBool::new(false),
        });
        watch(&watched);
        let mut bridge = Bridge {
            python: python.to_path_buf(),
            pid,
            watched,
            stdin,
            stdout: BufReader::with_capacity(1 << 16, stdout),
            stderr: tail,
            request: Vec::new(),
            reply: Vec::new(),
            broken: false,
            timeout: default_timeout(),
            hello: String::new(),
        };
        if drain.is_err() {
            return Err("cannot start a thread to read the Python child's stderr".into());
        }
        bridge.arm();
        let hello = bridge.read_reply();
        bridge.disarm();
        match hello {
            Ok(()) => {
                let text = String::from_utf8_lossy(&bridge.reply[1..]).into_owned();
                if !text.starts_with(PROTOCOL) {
                    return Err(format!(
                        "`{}` ran the bridge script but it answered {text:?}, not protocol {}",
                        python.display(),
                        PROTOCOL.trim_end()
                    ));
                }
                bridge.hello = text;
                Ok(bridge)
            }
            Err(CallError::Refused(m)) => Err(no_gymnasium(
                python,
                &format!(
                    "Python `{}` cannot import Gymnasium ({m})",
                    python.display()
                ),
            )),
            Err(CallError::Dead(m)) => Err(no_gymnasium(python, &m)),
        }
    }

    /// The child's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Keeps the bridge out of the idle pool: a reply did not fit its request.
    pub(crate) fn mark_broken(&mut self) {
        self.broken = true;
    }

    pub(crate) fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    fn arm(&self) {
        let ms = u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX);
        self.watched
            .deadline_ms
            .store(now_ms().saturating_add(ms).max(1), Ordering::Release);
    }

    fn disarm(&self) {
        self.watched.deadline_ms.store(0, Ordering::Release);
    }

    /// Sends the request `op` + whatever `body` writes, and returns the reply's payload.
    pub(crate) fn call(
        &mut self,
        op: u8,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<&[u8], CallError> {
        self.send(op, body)?;
        self.arm();
        let r = self.read_reply();
        self.disarm();
        r?;
        Ok(&self.reply[1..])
    }

    /// Sends a request that gets no reply (`C`, `Q`).
    pub(crate) fn send(
        &mut self,
        op: u8,
        body: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), CallError> {
        if self.broken {
            return Err(CallError::Dead(self.died("")));
        }
        self.request.clear();
        self.request.extend_from_slice(&[0; 4]);
        self.request.push(op);
        body(&mut self.request);
        let Ok(len) = u32::try_from(self.request.len() - 4) else {
            return Err(CallError::Refused(format!(
                "a request of {} bytes is too large for the bridge protocol",
                self.request.len()
            )));
        };
        self.request[..4].copy_from_slice(&len.to_le_bytes());
        self.arm();
        let written = self
            .stdin
            .write_all(&self.request)
            .and_then(|()| self.stdin.flush());
        self.disarm();
        written.map_err(|e| self.fail(&format!("writing to it failed ({e})")))
    }

    /// Reads one reply frame into `self.reply` (status byte first).
    fn read_reply(&mut self) -> Result<(), CallError> {
        let mut head = [0u8; 4];
        if let Err(e) = self.stdout.read_exact(&mut head) {
            return Err(self.fail(&format!("reading its reply failed ({e})")));
        }
        let len = u32::from_le_bytes(head) as usize;
        if len == 0 {
            return Err(self.fail("it sent an empty frame"));
        }
        self.reply.resize(len, 0);
        if let Err(e) = self.stdout.read_exact(&mut self.reply) {
            return Err(self.fail(&format!("reading its reply failed ({e})")));
        }
        match self.reply[0] {
            0 => Ok(()),
            1 => Err(CallError::Refused(
                String::from_utf8_lossy(&self.reply[1..]).into_owned(),
            )),
            s => Err(self.fail(&format!("it sent a reply with status {s}"))),
        }
    }

    /// Marks the bridge broken and describes why, with the child's fate and stderr.
    fn fail(&mut self, what: &str) -> CallError {
        self.broken = true;
        CallError::Dead(self.died(what))
    }

    fn died(&self, what: &str) -> String {
        let timed_out = self.watched.timed_out.load(Ordering::Acquire);
        let mut child = lock(&self.watched.child);
        if !timed_out {
            // The child may still be exiting; give it a moment to be reaped.
            for _ in 0..20 {
                if matches!(child.try_wait(), Ok(Some(_))) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let fate = if timed_out {
            format!(
                "it did not answer within {:.1} s and was killed (EIRL_GYM_TIMEOUT sets the limit)",
                self.timeout.as_secs_f64()
            )
        } else {
            match child.try_wait() {
                Ok(Some(status)) => format!("it exited ({status})"),
                _ => "it stopped answering".to_string(),
            }
        };
        drop(child);
        let mut msg = format!(
            "the Gymnasium bridge process (pid {}, `{}`) failed: {fate}",
            self.pid,
            self.python.display()
        );
        if !what.is_empty() && !timed_out {
            msg.push_str(&format!("; {what}"));
        }
        let tail = stderr_tail(&lock(&self.stderr));
        if !tail.is_empty() {
            msg.push_str(&format!("; its stderr ends: {tail}"));
        }
        msg
    }

    fn kill(&mut self) {
        let mut child = lock(&self.watched.child);
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.kill();
    }
}

fn drain_stderr(mut stderr: impl Read, tail: &Mutex<Vec<u8>>) {
    let mut buf = [0u8; 4096];
    loop {
        match stderr.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(k) => {
                let mut t = lock(tail);
                t.extend_from_slice(&buf[..k]);
                if t.len() > STDERR_TAIL {
                    let cut = t.len() - STDERR_TAIL;
                    t.drain(..cut);
                }
            }
        }
    }
}

/// The last few non-empty stderr lines, on one line.
fn stderr_tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(4)..].join(" | ")
}

static IDLE: Mutex<Vec<Bridge>> = Mutex::new(Vec::new());

/// A bridge on the current interpreter ([`gym_python`]): an idle one when the pool has one,
/// else a new process.
pub(crate) fn acquire() -> Result<(Bridge, bool), String> {
    let python = gym_python();
    let pooled = {
        let mut idle = lock(&IDLE);
        idle.iter()
            .position(|b| b.python == python)
            .map(|i| idle.swap_remove(i))
    };
    match pooled {
        Some(mut b) => {
            b.set_timeout(default_timeout());
            Ok((b, true))
        }
        None => Bridge::spawn(&python).map(|b| (b, false)),
    }
}

/// Gives a bridge back: closes its envs and keeps it idle when it is healthy and the pool has
/// room; kills it otherwise.
pub(crate) fn release(mut bridge: Bridge) {
    if bridge.broken || bridge.send(b'C', |_| {}).is_err() {
        return;
    }
    let mut idle = lock(&IDLE);
    if idle.len() < MAX_IDLE {
        idle.push(bridge);
    }
}

/// Little-endian readers over a reply payload, failing on a short payload.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Reader { bytes }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        if self.bytes.len() < n {
            return Err(format!(
                "the bridge's reply is {} bytes short",
                n - self.bytes.len()
            ));
        }
        let (head, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn u32(&mut self) -> Result<u32, String> {
        self.array().map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&mut self) -> Result<u64, String> {
        self.array().map(u64::from_le_bytes)
    }

    pub(crate) fn i64(&mut self) -> Result<i64, String> {
        self.array().map(i64::from_le_bytes)
    }

    pub(crate) fn f64(&mut self) -> Result<f64, String> {
        self.array().map(f64::from_le_bytes)
    }

    /// `n` little-endian f32s, appended to `out`.
    pub(crate) fn f32s_into(&mut self, n: usize, out: &mut [f32]) -> Result<(), String> {
        let bytes = self.take(n * 4)?;
        for (v, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
            *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        Ok(())
    }

    pub(crate) fn f32s(&mut self, n: usize) -> Result<Vec<f32>, String> {
        let mut v = vec![0.0; n];
        self.f32s_into(n, &mut v)?;
        Ok(v)
    }

    /// Every remaining byte as f64s.
    pub(crate) fn rest_f64s(&mut self) -> Result<Vec<f64>, String> {
        if self.bytes.len() % 8 != 0 {
            return Err("the bridge's reply is not a whole number of f64s".into());
        }
        let bytes = self.take(self.bytes.len())?;
        Ok(bytes
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
            .collect())
    }

    pub(crate) fn finish(&self) -> Result<(), String> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "the bridge's reply has {} bytes too many",
                self.bytes.len()
            ))
        }
    }
}
