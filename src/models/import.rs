//! Loading PyTorch weights (`.pth` state dicts, `.safetensors`) into the zoo's networks, on
//! burn's own store crate (`burn::store`: its PyTorch pickle reader, its SafeTensors reader and its
//! PyTorch → burn adapter, which transposes `Linear` weights and renames norm parameters).
//!
//! Names are mapped from the convention of the file's source:
//! - [`Swin`](super::swin::Swin): torchvision (`features.0.0` patch conv, `features.{1,3,5,7}.J`
//!   blocks, `features.{2,4,6}` patch merging, `mlp.0`/`mlp.3`, `norm`, `head`) — the
//!   `swin_t`/`swin_s`/`swin_b` ImageNet weights;
//! - CIFAR ResNets and WRNs: RepDistiller (`conv1`, `bn1`, `layerK.J.{conv1,bn1,conv2,bn2,
//!   downsample.0/1}`, `fc`; WRN `blockK.layer.J.{bn1,conv1,bn2,conv2,convShortcut}`, `bn1`, `fc`)
//!   — the pretrained CIFAR-100 teachers (`resnet32x4`, `wrn_40_2`, …) people reuse.
//!
//! Real checkpoints wrap the state dict: RepDistiller's teachers are `{'model': state_dict,
//! 'optimizer': …, 'epoch': …}`, `nn.DataParallel` prefixes every key with `module.`, others use
//! `{'state_dict': …}`. The wrapper is found by trying the known ones (`model.`, `state_dict.`,
//! `net.`, each with or without `module.`, and `module.` alone) and keeping the one under which
//! most keys name a parameter of the network; [`Import::prefix`] names another. Keys outside it
//! (the optimiser's state) are ignored; a file where no wrapper fits is an error naming the
//! top-level keys it has.
//!
//! A tensor of the wrong shape, a parameter the file lacks, or a file tensor that maps to nothing
//! is an [`Error::Weights`] naming the key and both shapes. Buffers the network recomputes
//! (`relative_position_index`, `num_batches_tracked`) are ignored.
use super::Net;
use crate::error::{Error, Result};
use burn::store::{ApplyError, ApplyResult, ModuleSnapshot, ModuleStore, PyTorchToBurnAdapter, PytorchStore, SafetensorsStore};
use regex::Regex;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Options of a weight import.
#[derive(Clone, Debug, Default)]
pub struct Import {
    skip_classifier: bool,
    prefix: Option<String>,
}

impl Import {
    /// Everything, the classifier included (the file's classes must match the network's).
    pub fn all() -> Import {
        Import::default()
    }
    /// Everything but the final classifier, which keeps its fresh initialisation: an ImageNet
    /// backbone for a 200-class CUB head.
    pub fn except_classifier() -> Import {
        Import { skip_classifier: true, prefix: None }
    }
    /// The network's tensors are the file's keys under `prefix` (e.g. `"teacher."`), instead of
    /// the wrapper found by trying the known ones.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Import {
        self.prefix = Some(prefix.into());
        self
    }
}

/// What an import loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct Imported {
    /// Tensors loaded.
    pub loaded: usize,
    /// File tensors ignored (recomputed buffers, and the classifier when skipped).
    pub ignored: Vec<String>,
}

/// `(pattern, replacement)` rules from a file's names to ours, applied in order.
fn rules(net: &Net) -> Result<Vec<(String, String)>> {
    let r = |a: &str, b: &str| (a.to_string(), b.to_string());
    Ok(match net {
        Net::Swin(s) => {
            let stages = s.num_stages();
            let mut v = vec![r(r"^features\.0\.0\.", "patch_embed.proj."), r(r"^features\.0\.2\.", "patch_embed.norm.")];
            for i in 0..stages {
                v.push(r(&format!(r"^features\.{}\.(\d+)\.", 2 * i + 1), &format!("stages.{i}.blocks.$1.")));
                if i > 0 {
                    v.push(r(&format!(r"^features\.{}\.", 2 * i), &format!("stages.{i}.merge.")));
                }
            }
            v.extend([r(r"\.mlp\.0\.", ".mlp.fc1."), r(r"\.mlp\.3\.", ".mlp.fc2.")]);
            v
        }
        Net::ResNet(_) => {
            let mut v = vec![r(r"^conv1\.", "stem.conv."), r(r"^bn1\.", "stem.bn.")];
            v.extend((0..4).map(|i| r(&format!(r"^layer{}\.(\d+)\.", i + 1), &format!("stages.{i}.blocks.$1."))));
            v.extend([
                r(r"\.conv1\.", ".a.conv."),
                r(r"\.bn1\.", ".a.bn."),
                r(r"\.conv2\.", ".b.conv."),
                r(r"\.bn2\.", ".b.bn."),
                r(r"\.downsample\.0\.", ".shortcut.conv."),
                r(r"\.downsample\.1\.", ".shortcut.bn."),
            ]);
            v
        }
        Net::Wrn(_) => {
            let mut v = vec![r(r"^conv1\.", "stem."), r(r"^bn1\.", "bn.")];
            v.extend((0..3).map(|i| r(&format!(r"^block{}\.layer\.(\d+)\.", i + 1), &format!("stages.{i}.blocks.$1."))));
            v.push(r(r"\.convShortcut\.", ".shortcut."));
            v
        }
        other => return Err(Error::invalid("import", other.kind(), "weights import knows torchvision's Swin and RepDistiller's CIFAR ResNets and WRNs")),
    })
}

/// The wrappers real checkpoints put around a state dict, tried in this order ("" = none).
const WRAPPERS: [&str; 8] = ["", "module.", "model.", "model.module.", "state_dict.", "state_dict.module.", "net.", "net.module."];

/// The wrapper under which most of `file_keys` name a parameter of the network (`params`, in
/// our naming after `rules`); `None` when no key does under any.
fn wrapper(file_keys: &[String], rules: &[(Regex, String)], params: &std::collections::BTreeSet<String>) -> Option<String> {
    let hits = |w: &str| file_keys.iter().filter_map(|k| k.strip_prefix(w)).filter(|k| params.contains(&ours(rules, k))).count();
    let (best, n) = WRAPPERS.iter().map(|w| (*w, hits(w))).fold(("", 0), |a, b| if b.1 > a.1 { b } else { a });
    (n > 0).then(|| best.to_string())
}

/// The error for a file whose keys name no parameter under any known wrapper: its top-level keys.
fn no_wrapper(file_keys: &[String], path: &Path) -> Error {
    let mut tops: Vec<&str> = file_keys.iter().map(|k| k.split('.').next().unwrap_or(k)).collect();
    tops.dedup();
    tops.sort_unstable();
    tops.dedup();
    let shown: Vec<String> = tops.iter().take(8).map(|t| format!("`{t}`")).collect();
    Error::Weights {
        path: path.to_path_buf(),
        key: file_keys.first().cloned().unwrap_or_default(),
        reason: format!(
            "no tensor of the file names a parameter of this network, bare or under {} (its top-level keys: {}{}); another architecture, or give the prefix with Import::prefix",
            WRAPPERS[1..].iter().map(|w| format!("`{w}`")).collect::<Vec<_>>().join(", "),
            shown.join(", "),
            if tops.len() > 8 { ", …" } else { "" }
        ),
    }
}

/// Every parameter and buffer path of `net` (`stages.0.blocks.1.a.conv.weight`), as the stores
/// name them.
fn param_paths(net: &Net) -> std::collections::BTreeSet<String> {
    use burn::module::Module;
    struct Paths {
        stack: Vec<String>,
        out: std::collections::BTreeSet<String>,
    }
    impl burn::module::ModuleVisitor for Paths {
        fn enter_module(&mut self, name: &str, _container: &str) {
            self.stack.push(name.to_string());
        }
        fn exit_module(&mut self, _name: &str, _container: &str) {
            self.stack.pop();
        }
        fn visit_float<const D: usize>(&mut self, _param: &burn::module::Param<burn::tensor::Tensor<D>>) {
            self.out.insert(self.stack.join("."));
        }
    }
    let mut p = Paths { stack: Vec::new(), out: Default::default() };
    match net {
        Net::Swin(m) => m.visit(&mut p),
        Net::ResNet(m) => m.visit(&mut p),
        Net::Wrn(m) => m.visit(&mut p),
        _ => {}
    }
    p.out
}

fn compiled(rules: &[(String, String)]) -> Vec<(Regex, String)> {
    rules.iter().map(|(p, r)| (Regex::new(p).expect("the rules are valid regexes"), r.clone())).collect()
}

/// A file key in our naming.
fn ours(rules: &[(Regex, String)], key: &str) -> String {
    rules.iter().fold(key.to_string(), |k, (re, to)| re.replace_all(&k, to.as_str()).into_owned())
}

/// Buffers the network recomputes instead of storing.
fn recomputed(key: &str) -> bool {
    key.ends_with("relative_position_index") || key.ends_with("num_batches_tracked")
}

fn is_classifier(net: &Net, our_key: &str) -> bool {
    let head = match net {
        Net::Swin(_) => "head.",
        _ => "fc.",
    };
    our_key.starts_with(head)
}

/// Loads the weights in `path` (`.safetensors`, else a PyTorch pickle such as `.pth`/`.pt`)
/// into `net`, mapping names as the module docs say.
pub fn load(mut net: Net, path: impl AsRef<Path>, options: Import) -> Result<(Net, Imported)> {
    let path = path.as_ref().to_path_buf();
    if !path.is_file() {
        return Err(Error::Io { path: path.clone(), source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such weight file") });
    }
    let mut rules = rules(&net)?;
    let classifier = options.skip_classifier.then(|| net.classifier().clone());
    let safetensors = path.extension().is_some_and(|e| e == "safetensors");
    let file_keys: Vec<String> = if safetensors { keys(SafetensorsStore::from_file(&path), &path)? } else { keys(PytorchStore::from_file(&path), &path)? };
    let wrapper = match &options.prefix {
        Some(p) => p.clone(),
        None => wrapper(&file_keys, &compiled(&rules), &param_paths(&net)).ok_or_else(|| no_wrapper(&file_keys, &path))?,
    };
    if !wrapper.is_empty() {
        rules.insert(0, (format!("^{}", regex::escape(&wrapper)), String::new()));
    }
    let re = compiled(&rules);
    let names: BTreeMap<String, String> = file_keys.iter().map(|k| (ours(&re, k), k.clone())).collect();
    let result = if safetensors {
        let store = rules.iter().fold(SafetensorsStore::from_file(&path).with_from_adapter(PyTorchToBurnAdapter), |s, (p, r)| s.with_key_remapping(p, r));
        apply(&mut net, store.allow_partial(true).validate(false), &path)?
    } else {
        let store = rules.iter().fold(PytorchStore::from_file(&path), |s, (p, r)| s.with_key_remapping(p, r));
        apply(&mut net, store.allow_partial(true).validate(false), &path)?
    };
    let imported = check(&net, &result, &names, &path, &options, &wrapper)?;
    if let Some(fc) = classifier {
        net = net.with_classifier(fc);
    }
    Ok((net, imported))
}

fn keys<S: ModuleStore>(mut store: S, path: &Path) -> Result<Vec<String>>
where
    S::Error: std::fmt::Display,
{
    store.keys().map_err(|e| Error::format(path, format!("not a readable weight file: {e}")))
}

fn apply<S: ModuleStore>(net: &mut Net, mut store: S, path: &Path) -> Result<ApplyResult>
where
    S::Error: std::fmt::Display,
{
    let r = match net {
        Net::Swin(m) => m.load_from(&mut store),
        Net::ResNet(m) => m.load_from(&mut store),
        Net::Wrn(m) => m.load_from(&mut store),
        other => return Err(Error::invalid("import", other.kind(), "no known naming")),
    };
    r.map_err(|e| Error::format(path, format!("could not load the weights: {e}")))
}

/// Turns burn's apply report into our typed errors.
fn check(net: &Net, result: &ApplyResult, names: &BTreeMap<String, String>, path: &Path, options: &Import, wrapper: &str) -> Result<Imported> {
    let file_key = |ours: &str| names.get(ours).cloned().unwrap_or_else(|| ours.to_string());
    let err = |key: String, reason: String| Error::Weights { path: PathBuf::from(path), key, reason };
    let mut ignored = Vec::new();
    for e in &result.errors {
        if let ApplyError::ShapeMismatch { path: p, expected, found } = e {
            if options.skip_classifier && is_classifier(net, p) {
                ignored.push(file_key(p));
                continue;
            }
            return Err(err(file_key(p), format!("shape {:?} in the file, the network's `{p}` has {:?} (Linear weights compared as burn's [in, out])", found.to_vec(), expected.to_vec())));
        }
        let p = match e {
            ApplyError::ShapeMismatch { path, .. } | ApplyError::DTypeMismatch { path, .. } | ApplyError::AdapterError { path, .. } | ApplyError::LoadError { path, .. } => path,
        };
        return Err(err(file_key(p), e.to_string()));
    }
    if let Some((p, _)) = result.missing.iter().find(|(p, _)| !(options.skip_classifier && is_classifier(net, p))) {
        return Err(err(p.clone(), "the network has this parameter, no tensor of the file maps to it".into()));
    }
    for p in &result.unused {
        let key = file_key(p);
        let outside = !key.starts_with(wrapper); // the optimiser's state and such beside the weights
        if outside || recomputed(&key) || (options.skip_classifier && is_classifier(net, p)) {
            ignored.push(key);
        } else {
            return Err(err(key, format!("no parameter of the network is called `{p}` (another architecture or naming?)")));
        }
    }
    let loaded = result.applied.iter().filter(|p| !(options.skip_classifier && is_classifier(net, p))).count();
    Ok(Imported { loaded, ignored })
}

impl Net {
    /// The network with the weights of `path` loaded (see [`load`]); the classifier too.
    pub fn load_weights(self, path: impl AsRef<Path>) -> Result<Net> {
        load(self, path, Import::all()).map(|(n, _)| n)
    }
}
