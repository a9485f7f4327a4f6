//! The MuJoCo C library, loaded at run time.
//!
//! eirl has no link-time dependency on MuJoCo: the default build needs no native library, and
//! the MuJoCo envs find `libmujoco` when they are first made (where: [`mujoco_available`]).
//!
//! Structs are read through the byte offsets in [`super::layout`], which belong to one MuJoCo
//! version; a library reporting another `mj_version()` is refused with instructions.

use std::ffi::{c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::layout::{MJ_VERSION, MUJOCO_VERSION};

/// `mjModel*` / `mjData*` / `mjVFS*`: opaque here, read through offsets.
pub(crate) type Ptr = *mut c_void;

/// The entry points eirl calls, resolved once.
pub(crate) struct Lib {
    pub(crate) default_vfs: unsafe extern "C" fn(Ptr),
    pub(crate) add_buffer_vfs:
        unsafe extern "C" fn(Ptr, *const c_char, *const c_void, c_int) -> c_int,
    pub(crate) delete_vfs: unsafe extern "C" fn(Ptr),
    pub(crate) load_xml: unsafe extern "C" fn(*const c_char, Ptr, *mut c_char, c_int) -> Ptr,
    pub(crate) delete_model: unsafe extern "C" fn(Ptr),
    pub(crate) make_data: unsafe extern "C" fn(Ptr) -> Ptr,
    pub(crate) delete_data: unsafe extern "C" fn(Ptr),
    pub(crate) reset_data: unsafe extern "C" fn(Ptr, Ptr),
    pub(crate) forward: unsafe extern "C" fn(Ptr, Ptr),
    pub(crate) step: unsafe extern "C" fn(Ptr, Ptr),
    pub(crate) rne_post_constraint: unsafe extern "C" fn(Ptr, Ptr),
    pub(crate) state_size: unsafe extern "C" fn(Ptr, c_int) -> c_int,
    pub(crate) get_state: unsafe extern "C" fn(Ptr, Ptr, *mut f64, c_int),
    pub(crate) set_state: unsafe extern "C" fn(Ptr, Ptr, *const f64, c_int),
    /// Where the library was loaded from (for messages).
    pub(crate) path: PathBuf,
    /// Kept loaded for the life of the process: the function pointers above point into it.
    _library: libloading::Library,
}

/// The library, loaded on first use; the error says what was tried and how to install it.
pub(crate) fn lib() -> Result<&'static Lib, String> {
    static LIB: OnceLock<Result<Lib, String>> = OnceLock::new();
    LIB.get_or_init(load).as_ref().map_err(Clone::clone)
}

/// The library's file name on this platform, with and without the version.
fn file_names() -> [String; 2] {
    if cfg!(target_os = "macos") {
        [
            format!("libmujoco.{MUJOCO_VERSION}.dylib"),
            "libmujoco.dylib".into(),
        ]
    } else if cfg!(windows) {
        ["mujoco.dll".into(), "mujoco.dll".into()]
    } else {
        [
            format!("libmujoco.so.{MUJOCO_VERSION}"),
            "libmujoco.so".into(),
        ]
    }
}

/// The library file in `dir`, if there is one: this version's name, the plain name, else any
/// other version's (which the version check then refuses with a clear message).
fn in_dir(dir: &Path) -> Option<PathBuf> {
    if let Some(p) = file_names()
        .into_iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
    {
        return Some(p);
    }
    let mut others: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.is_file()
                && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.starts_with("libmujoco.so.")
                        || (n.starts_with("libmujoco.") && n.ends_with(".dylib"))
                })
        })
        .collect();
    others.sort();
    others.pop()
}

/// `mujoco/` package folders inside `.venv-py`s of `start` and its ancestors.
fn venv_packages(start: &Path, out: &mut Vec<PathBuf>) {
    for dir in start.ancestors() {
        let lib = dir.join(".venv-py").join("lib");
        let Ok(entries) = std::fs::read_dir(&lib) else {
            continue;
        };
        for e in entries.flatten() {
            let pkg = e.path().join("site-packages").join("mujoco");
            if pkg.is_dir() {
                out.push(pkg);
            }
        }
    }
}

/// The `mujoco` package folder of the Python `gym:` envs use, asked of that Python.
fn python_package() -> Option<PathBuf> {
    let out = std::process::Command::new(crate::gym_python())
        .args([
            "-c",
            "import os, mujoco; print(os.path.dirname(mujoco.__file__))",
        ])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let dir = dir.trim();
    (out.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

/// Library files found by steps 2–4 of [`mujoco_available`]'s search, in that order.
fn candidates() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(d) = std::env::var_os("MUJOCO_DYNAMIC_LINK_DIR").filter(|p| !p.is_empty()) {
        dirs.push(PathBuf::from(d));
    }
    if let Ok(cwd) = std::env::current_dir() {
        venv_packages(&cwd, &mut dirs);
    }
    if let Ok(exe) = std::env::current_exe() {
        venv_packages(&exe, &mut dirs);
    }
    let mut files: Vec<PathBuf> = dirs.iter().filter_map(|d| in_dir(d)).collect();
    if files.is_empty()
        && let Some(f) = python_package().and_then(|d| in_dir(&d))
    {
        files.push(f);
    }
    files
}

fn install_hint() -> String {
    format!(
        "install MuJoCo {MUJOCO_VERSION} with `python3 -m venv .venv-py && .venv-py/bin/pip \
         install mujoco=={MUJOCO_VERSION}` in the folder you run eirl from (`.ci/run` does this \
         from python/requirements-mujoco.txt), or set EIRL_MUJOCO_LIB to the path of \
         {}",
        file_names()[0]
    )
}

fn load() -> Result<Lib, String> {
    // An explicit choice is the only one tried.
    if let Some(p) = std::env::var_os("EIRL_MUJOCO_LIB").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        // A folder without the library: opening the file it should hold says so.
        let file = if p.is_dir() {
            in_dir(&p).unwrap_or_else(|| p.join(&file_names()[0]))
        } else {
            p
        };
        return open(&file).map_err(|e| format!("EIRL_MUJOCO_LIB: {e}; {}", install_hint()));
    }
    let mut tried = Vec::new();
    // Step 5: bare names, through the system's search path.
    let system = file_names().map(PathBuf::from);
    for file in candidates().into_iter().chain(system) {
        match open(&file) {
            Ok(lib) => return Ok(lib),
            Err(e) => tried.push(e),
        }
    }
    Err(format!(
        "the MuJoCo library was not found ({}); {}",
        tried.join("; "),
        install_hint()
    ))
}

/// Loads `path` (a bare file name: through the system's search path) and checks its version.
#[allow(unsafe_code)]
fn open(path: &Path) -> Result<Lib, String> {
    // SAFETY: loading libmujoco runs its (C++) static initialisers, which have no
    // preconditions; nothing else in the process is touched.
    let library = unsafe { libloading::Library::new(path) }
        .map_err(|e| format!("{}: {e}", path.display()))?;
    macro_rules! sym {
        ($name:literal) => {
            // SAFETY: each symbol is declared with the signature of its prototype in MuJoCo's
            // mujoco.h (pointer-sized handles, C ints, doubles); the pointer stays valid while
            // `library` is loaded, and `Lib` keeps it loaded for the life of the process.
            *unsafe { library.get(concat!($name, "\0").as_bytes()) }
                .map_err(|e| format!("{}: {e}", path.display()))?
        };
    }
    // MuJoCo's default warning handler appends to MUJOCO_LOG.TXT in the working folder; eirl's
    // prints to stderr instead, once per distinct message.
    let warning_hook: *mut Option<unsafe extern "C" fn(*const c_char)> = sym!("mju_user_warning");
    // SAFETY: `mju_user_warning` is the library's global handler pointer (mujoco.h), written
    // here before any model is loaded, while the library is not yet used by any thread.
    unsafe { warning_hook.write(Some(print_warning)) };
    let version: unsafe extern "C" fn() -> c_int = sym!("mj_version");
    // SAFETY: mj_version takes nothing and returns an int.
    let found = unsafe { version() };
    if found != MJ_VERSION {
        return Err(format!(
            "{} is MuJoCo {}.{}.{}, but eirl's MuJoCo envs read the structs of MuJoCo \
             {MUJOCO_VERSION} (crates/envs/src/mujoco/layout.rs, which \
             python/reference/mujoco_layout.py regenerates for another version)",
            path.display(),
            found / 1_000_000,
            found / 1000 % 1000,
            found % 1000
        ));
    }
    Ok(Lib {
        default_vfs: sym!("mj_defaultVFS"),
        add_buffer_vfs: sym!("mj_addBufferVFS"),
        delete_vfs: sym!("mj_deleteVFS"),
        load_xml: sym!("mj_loadXML"),
        delete_model: sym!("mj_deleteModel"),
        make_data: sym!("mj_makeData"),
        delete_data: sym!("mj_deleteData"),
        reset_data: sym!("mj_resetData"),
        forward: sym!("mj_forward"),
        step: sym!("mj_step"),
        rne_post_constraint: sym!("mj_rnePostConstraint"),
        state_size: sym!("mj_stateSize"),
        get_state: sym!("mj_getState"),
        set_state: sym!("mj_setState"),
        path: path.to_path_buf(),
        _library: library,
    })
}

/// The one warning MuJoCo gives for a shipped model: Gymnasium's `half_cheetah.xml` uses the
/// deprecated `settotalmass` compiler attribute. The model must stay as Gymnasium ships it, so
/// the warning is expected and not repeated to users.
const KNOWN_WARNING: &str = "compiler attribute 'settotalmass' is deprecated";

/// MuJoCo's warnings, to stderr (each distinct message once per process; not
/// [`KNOWN_WARNING`]).
#[allow(unsafe_code)]
extern "C" fn print_warning(msg: *const c_char) {
    use std::io::Write as _;
    use std::sync::Mutex;
    static SEEN: Mutex<Vec<String>> = Mutex::new(Vec::new());
    if msg.is_null() {
        return;
    }
    // SAFETY: MuJoCo passes a NUL-terminated message that lives for the call.
    let text = unsafe { std::ffi::CStr::from_ptr(msg) }
        .to_string_lossy()
        .into_owned();
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if !text.starts_with(KNOWN_WARNING) && !seen.contains(&text) {
        // Nothing may unwind into C: a failed write is dropped.
        let _ = writeln!(std::io::stderr(), "MuJoCo warning: {text}");
        seen.push(text);
    }
}

/// Whether the MuJoCo library can be loaded here; `Err` says why not and how to install it.
///
/// The library is looked for once per process, in this order:
/// 1. `EIRL_MUJOCO_LIB`: the library file, or a folder holding it (the only place tried when
///    set);
/// 2. `MUJOCO_DYNAMIC_LINK_DIR` (the variable `mujoco-rs` uses): a folder holding it;
/// 3. the `mujoco` Python package in a `.venv-py` of the current folder or of any folder above
///    it or above the running executable (`.ci/run` installs it there from
///    `python/requirements-mujoco.txt`);
/// 4. the `mujoco` package of the Python that `gym:` envs use (`EIRL_PYTHON`, else `python3`);
/// 5. the system's library path (`libmujoco.so.<version>`, then `libmujoco.so`).
///
/// It must be MuJoCo [`MUJOCO_VERSION`](crate::MUJOCO_VERSION): eirl reads MuJoCo's structs
/// through byte offsets recorded for that version.
///
/// # Errors
/// The reason the library could not be loaded.
pub fn mujoco_available() -> Result<(), String> {
    lib().map(|_| ())
}
