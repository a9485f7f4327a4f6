//! Safe owners of a compiled `mjModel` (shared, read-only) and an `mjData` (one per env).
#![allow(unsafe_code)]

use std::ffi::{CString, c_char, c_int, c_void};
use std::sync::Arc;

use super::ffi::{Lib, Ptr, lib};
use super::layout as l;

/// `mjSTATE_QPOS`, `mjSTATE_QVEL`, `mjSTATE_ACT`, `mjSTATE_CTRL` (mjtState).
const STATE_QPOS: c_int = 1 << 1;
const STATE_QVEL: c_int = 1 << 2;
const STATE_ACT: c_int = 1 << 3;
const STATE_CTRL: c_int = 1 << 6;

/// A compiled model. MuJoCo never writes a model while simulating, so one is shared by every
/// env of a task (`Arc`), across threads.
pub(crate) struct Model {
    ptr: Ptr,
    lib: &'static Lib,
    pub(crate) nq: usize,
    pub(crate) nv: usize,
    pub(crate) nu: usize,
    pub(crate) nbody: usize,
    pub(crate) timestep: f64,
}

// SAFETY: the model is written only while it is compiled (inside `Model::load`); afterwards
// every MuJoCo call takes it as `const mjModel*`, and eirl only reads it.
unsafe impl Send for Model {}
// SAFETY: as above: shared read-only access from several threads is MuJoCo's documented use.
unsafe impl Sync for Model {}

impl Drop for Model {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from mj_loadXML and is deleted once; no Data outlives it (each
        // holds an Arc of its model).
        unsafe { (self.lib.delete_model)(self.ptr) }
    }
}

/// Reads the `int` at `offset` of a struct.
///
/// # Safety
/// `base + offset` must be an `int` field of a live struct.
unsafe fn int_at(base: Ptr, offset: usize) -> usize {
    // SAFETY: the caller's contract; MuJoCo's sizes are non-negative.
    let v = unsafe { base.cast::<u8>().add(offset).cast::<c_int>().read() };
    usize::try_from(v).unwrap_or(0)
}

/// Reads the `mjtNum*` stored at `offset` of a struct.
///
/// # Safety
/// `base + offset` must be an `mjtNum*` field of a live struct.
unsafe fn ptr_at(base: Ptr, offset: usize) -> *mut f64 {
    // SAFETY: the caller's contract.
    unsafe { base.cast::<u8>().add(offset).cast::<*mut f64>().read() }
}

impl Model {
    /// Compiles `xml` (an MJCF document named `name`) through MuJoCo's XML loader, from memory.
    pub(crate) fn load(name: &str, xml: &str) -> Result<Model, String> {
        let lib = lib()?;
        let c_name = CString::new(name).map_err(|e| e.to_string())?;
        let len = c_int::try_from(xml.len()).map_err(|e| e.to_string())?;
        // mjVFS is `struct { void* impl_; }`.
        let mut vfs: *mut c_void = std::ptr::null_mut();
        let vfs_ptr: Ptr = std::ptr::from_mut(&mut vfs).cast();
        let mut error = vec![0 as c_char; 1024];
        // SAFETY: `vfs_ptr` points at a live mjVFS-sized slot that mj_defaultVFS initialises
        // and mj_deleteVFS frees; the buffer is copied by mj_addBufferVFS; `error` has the
        // length passed.
        let ptr = unsafe {
            (lib.default_vfs)(vfs_ptr);
            let added = (lib.add_buffer_vfs)(vfs_ptr, c_name.as_ptr(), xml.as_ptr().cast(), len);
            let model = if added == 0 {
                (lib.load_xml)(c_name.as_ptr(), vfs_ptr, error.as_mut_ptr(), 1024)
            } else {
                std::ptr::null_mut()
            };
            (lib.delete_vfs)(vfs_ptr);
            if added != 0 {
                return Err(format!(
                    "{name}: MuJoCo's virtual file system refused it ({added})"
                ));
            }
            model
        };
        if ptr.is_null() {
            let msg: Vec<u8> = error
                .iter()
                .take_while(|&&c| c != 0)
                .map(|&c| c as u8)
                .collect();
            return Err(format!(
                "{name}: MuJoCo could not compile the model: {}",
                String::from_utf8_lossy(&msg)
            ));
        }
        // SAFETY: `ptr` is a live mjModel; the offsets are those of this library version
        // (checked at load), and are cross-checked against mj_stateSize just below.
        let model = unsafe {
            Model {
                ptr,
                lib,
                nq: int_at(ptr, l::MODEL_NQ),
                nv: int_at(ptr, l::MODEL_NV),
                nu: int_at(ptr, l::MODEL_NU),
                nbody: int_at(ptr, l::MODEL_NBODY),
                timestep: ptr
                    .cast::<u8>()
                    .add(l::MODEL_OPT_TIMESTEP)
                    .cast::<f64>()
                    .read(),
            }
        };
        // SAFETY: mj_stateSize reads the live model.
        let sizes = unsafe {
            [STATE_QPOS, STATE_QVEL, STATE_ACT, STATE_CTRL]
                .map(|sig| usize::try_from((lib.state_size)(ptr, sig)).unwrap_or(usize::MAX))
        };
        // SAFETY: as above.
        let na = unsafe { int_at(ptr, l::MODEL_NA) };
        if sizes != [model.nq, model.nv, na, model.nu] {
            return Err(format!(
                "{name}: the mjModel layout does not match {} (nq, nv, na, nu read as {:?}, \
                 MuJoCo says {sizes:?}); regenerate crates/envs/src/mujoco/layout.rs",
                lib.path.display(),
                [model.nq, model.nv, na, model.nu]
            ));
        }
        Ok(model)
    }

    /// `len` doubles of the `mjtNum*` array at `offset`.
    fn f64s(&self, offset: usize, len: usize) -> &[f64] {
        // SAFETY: the field at `offset` is an array of at least `len` mjtNums owned by the
        // model, alive and unchanged as long as `self`.
        unsafe { std::slice::from_raw_parts(ptr_at(self.ptr, offset), len) }
    }

    /// `model.body_mass` (nbody).
    pub(crate) fn body_mass(&self) -> &[f64] {
        self.f64s(l::MODEL_BODY_MASS, self.nbody)
    }

    /// `model.actuator_ctrlrange` (nu × 2, row-major).
    pub(crate) fn ctrl_range(&self) -> &[f64] {
        self.f64s(l::MODEL_ACTUATOR_CTRLRANGE, 2 * self.nu)
    }
}

/// One simulation state (`mjData`) of a model.
pub(crate) struct Data {
    ptr: Ptr,
    model: Arc<Model>,
}

// SAFETY: an mjData is owned by exactly one `Data`, which is only touched through `&mut self`
// for writes; moving it to another thread moves that ownership.
unsafe impl Send for Data {}

impl Drop for Data {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from mj_makeData and is deleted once.
        unsafe { (self.model.lib.delete_data)(self.ptr) }
    }
}

/// The `mjData` arrays eirl reads, with their lengths in units of the model's sizes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Field {
    Qpos,
    Qvel,
    Ctrl,
    QfrcActuator,
    QfrcConstraint,
    Xpos,
    Xipos,
    SiteXpos,
    Cinert,
    Cvel,
    CfrcExt,
}

impl Data {
    pub(crate) fn new(model: Arc<Model>) -> Result<Data, String> {
        // SAFETY: `model.ptr` is a live model.
        let ptr = unsafe { (model.lib.make_data)(model.ptr) };
        if ptr.is_null() {
            return Err("MuJoCo could not allocate mjData (out of memory)".into());
        }
        Ok(Data { ptr, model })
    }

    pub(crate) fn model(&self) -> &Model {
        &self.model
    }

    fn field(&self, f: Field) -> (usize, usize) {
        let m = &self.model;
        match f {
            Field::Qpos => (l::DATA_QPOS, m.nq),
            Field::Qvel => (l::DATA_QVEL, m.nv),
            Field::Ctrl => (l::DATA_CTRL, m.nu),
            Field::QfrcActuator => (l::DATA_QFRC_ACTUATOR, m.nv),
            Field::QfrcConstraint => (l::DATA_QFRC_CONSTRAINT, m.nv),
            Field::Xpos => (l::DATA_XPOS, 3 * m.nbody),
            Field::Xipos => (l::DATA_XIPOS, 3 * m.nbody),
            Field::Cinert => (l::DATA_CINERT, 10 * m.nbody),
            Field::Cvel => (l::DATA_CVEL, 6 * m.nbody),
            // Only the first site is read (InvertedDoublePendulum's tip).
            Field::SiteXpos => (l::DATA_SITE_XPOS, 3),
            Field::CfrcExt => (l::DATA_CFRC_EXT, 6 * m.nbody),
        }
    }

    /// An `mjData` array.
    pub(crate) fn get(&self, f: Field) -> &[f64] {
        let (offset, len) = self.field(f);
        // SAFETY: the field is an array of `len` mjtNums inside the live mjData (sizes from
        // its model); `&self` keeps it from being written meanwhile.
        unsafe { std::slice::from_raw_parts(ptr_at(self.ptr, offset), len) }
    }

    /// An `mjData` array, writable.
    pub(crate) fn get_mut(&mut self, f: Field) -> &mut [f64] {
        let (offset, len) = self.field(f);
        // SAFETY: as `get`; `&mut self` makes this the only access.
        unsafe { std::slice::from_raw_parts_mut(ptr_at(self.ptr, offset), len) }
    }

    /// `mj_resetData`.
    pub(crate) fn reset(&mut self) {
        // SAFETY: live model and data of that model.
        unsafe { (self.model.lib.reset_data)(self.model.ptr, self.ptr) }
    }

    /// `mj_forward`.
    pub(crate) fn forward(&mut self) {
        // SAFETY: as `reset`.
        unsafe { (self.model.lib.forward)(self.model.ptr, self.ptr) }
    }

    /// `n` calls of `mj_step` (Python's `mj_step(m, d, nstep=n)`), then `mj_rnePostConstraint`
    /// (as Gymnasium's `MujocoEnv._step_mujoco_simulation`, which makes `cfrc_ext` current).
    pub(crate) fn step(&mut self, n: usize) {
        // SAFETY: as `reset`.
        unsafe {
            for _ in 0..n {
                (self.model.lib.step)(self.model.ptr, self.ptr);
            }
            (self.model.lib.rne_post_constraint)(self.model.ptr, self.ptr);
        }
    }

    /// Every state element that decides the next steps (`mjSTATE_INTEGRATION`).
    pub(crate) fn full_state(&self) -> Vec<f64> {
        let lib = self.model.lib;
        // SAFETY: live model; mj_getState writes exactly mj_stateSize doubles.
        unsafe {
            let n = usize::try_from((lib.state_size)(self.model.ptr, l::STATE_INTEGRATION))
                .unwrap_or(0);
            let mut out = vec![0.0; n];
            (lib.get_state)(
                self.model.ptr,
                self.ptr,
                out.as_mut_ptr(),
                l::STATE_INTEGRATION,
            );
            out
        }
    }

    /// Restores [`Data::full_state`]; `false` (and nothing changed) when the length is wrong.
    pub(crate) fn set_full_state(&mut self, state: &[f64]) -> bool {
        let lib = self.model.lib;
        // SAFETY: live model and data; mj_setState reads exactly mj_stateSize doubles, which
        // is checked first.
        unsafe {
            let n = usize::try_from((lib.state_size)(self.model.ptr, l::STATE_INTEGRATION))
                .unwrap_or(usize::MAX);
            if n != state.len() {
                return false;
            }
            (lib.set_state)(
                self.model.ptr,
                self.ptr,
                state.as_ptr(),
                l::STATE_INTEGRATION,
            );
        }
        true
    }
}
