//! Picking the compute device at run time.
//!
//! Backends are cargo features: `flex` (default, pure-Rust CPU), `tch` (libtorch, CPU or CUDA),
//! `cuda` (burn's CubeCL CUDA; needs network access at build time). [`DeviceExt::auto`] picks
//! CUDA when a GPU backend is compiled in and a GPU is present, else the CPU backend.
pub use burn::tensor::Device;

/// Constructors and descriptions added to burn's [`Device`].
pub trait DeviceExt: Sized {
    /// CUDA when a GPU backend is compiled in and a GPU is present, else CPU; prints its choice.
    fn auto() -> Self;
    /// The same choice as [`auto`](DeviceExt::auto), without printing.
    fn auto_quiet() -> Self;
    /// The CPU device of the compiled-in CPU backend (`flex` first, then libtorch CPU).
    fn cpu_default() -> Self;
    /// A short human name such as `flex (CPU)` or `libtorch CUDA:0`.
    fn describe(&self) -> String;
    /// Whether this device is a GPU.
    fn is_gpu(&self) -> bool;
}

impl DeviceExt for Device {
    fn auto() -> Self {
        let device = Self::auto_quiet();
        println!("distillery: using {}", device.describe());
        device
    }

    #[allow(unreachable_code)]
    fn auto_quiet() -> Self {
        #[cfg(feature = "tch")]
        if load_torch_cuda() && tch::Cuda::is_available() {
            #[allow(deprecated)]
            return Device::libtorch_cuda(0);
        }
        #[cfg(feature = "cuda")]
        if std::path::Path::new("/dev/nvidia0").exists() {
            return Device::cuda(0);
        }
        Self::cpu_default()
    }

    #[allow(unreachable_code)]
    fn cpu_default() -> Self {
        #[cfg(feature = "flex")]
        return Device::flex();
        #[cfg(feature = "tch")]
        #[allow(deprecated)]
        return Device::libtorch();
        Device::default()
    }

    fn describe(&self) -> String {
        let raw = format!("{:?}", self.as_dispatch());
        let gpu = self.is_gpu();
        let kind = if gpu { "GPU" } else { "CPU" };
        if raw.contains("Flex") {
            "flex (CPU)".into()
        } else if raw.contains("LibTorch") {
            format!("libtorch {kind} ({raw})")
        } else {
            format!("{raw} ({kind})")
        }
    }

    fn is_gpu(&self) -> bool {
        let raw = format!("{:?}", self.as_dispatch());
        raw.contains("Cuda") || raw.contains("Rocm") || raw.contains("Wgpu") || raw.contains("Metal")
    }
}

/// Loads `libtorch_cuda.so` (from `LD_LIBRARY_PATH`) so libtorch registers its CUDA backend.
/// The linker drops it with `--as-needed` because no symbol of it is referenced directly; a
/// process that never loads it sees no GPU. Returns whether it is loaded.
#[cfg(feature = "tch")]
fn load_torch_cuda() -> bool {
    // SAFETY: dlopen with a valid C string; the handle is intentionally kept open for the
    // lifetime of the process.
    unsafe { !libc::dlopen(c"libtorch_cuda.so".as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL).is_null() }
}
