//! The Rust mirror must match the C ABI as compiled, on every architecture.
//!
//! Reads the BTF of every committed object under `bpf/obj/<arch>/` that
//! carries the ABI, and compares struct sizes, field names and offsets, and
//! enum values with `vigil_abi::{structs, constants}`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use libbpf_rs::btf::types::{Enum, MemberAttr, Struct};
use libbpf_rs::btf::{Btf, HasSize};

fn objects() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bpf/obj");
    let mut found = Vec::new();
    for arch in std::fs::read_dir(&root).expect("bpf/obj exists") {
        let arch = arch.unwrap().path();
        if !arch.is_dir() {
            continue;
        }
        for obj in std::fs::read_dir(&arch).unwrap() {
            let obj = obj.unwrap().path();
            if obj.extension().is_some_and(|e| e == "o") {
                found.push(obj);
            }
        }
    }
    found.sort();
    found
}

fn check_object(path: &PathBuf) -> Vec<String> {
    let bytes = std::fs::read(path).unwrap();
    let name = path.to_string_lossy().into_owned();
    let btf = Btf::from_raw(&name, &bytes)
        .unwrap_or_else(|e| panic!("{name}: cannot parse BTF: {e}"))
        .unwrap_or_else(|| panic!("{name}: object has no BTF"));
    let mut errors = Vec::new();

    for s in vigil_abi::structs() {
        let Some(c) = btf.type_by_name::<Struct<'_>>(s.c_name) else {
            errors.push(format!("{name}: struct {} missing from BTF", s.c_name));
            continue;
        };
        if c.size() != s.size {
            errors.push(format!(
                "{name}: struct {}: C size {} != Rust size {}",
                s.c_name,
                c.size(),
                s.size
            ));
        }
        let mut c_fields: Vec<(String, usize)> = c
            .iter()
            .map(|m| {
                let bits = match m.attr {
                    MemberAttr::Normal { offset } => offset,
                    MemberAttr::BitField { offset, .. } => offset,
                };
                let fname = m.name.map(|n| n.to_string_lossy().into_owned());
                (fname.unwrap_or_default(), bits as usize / 8)
            })
            .collect();
        if let Some((tail, len)) = s.tail {
            match c_fields.pop() {
                Some((n, off)) if n == tail && off == s.size - len => {}
                other => errors.push(format!(
                    "{name}: struct {}: expected trailing {tail}[], found {other:?}",
                    s.c_name
                )),
            }
        }
        let rust_fields: Vec<(String, usize)> = s
            .fields
            .iter()
            .map(|f| (f.name.to_string(), f.offset))
            .collect();
        if c_fields != rust_fields {
            errors.push(format!(
                "{name}: struct {} fields differ\n  C:    {c_fields:?}\n  Rust: {rust_fields:?}",
                s.c_name
            ));
        }
    }

    let mut by_enum: BTreeMap<&str, Vec<(&str, u64)>> = BTreeMap::new();
    for k in vigil_abi::constants() {
        by_enum.entry(k.c_enum).or_default().push((k.name, k.value));
    }
    for (c_enum, rust) in by_enum {
        let Some(e) = btf.type_by_name::<Enum<'_>>(c_enum) else {
            errors.push(format!("{name}: enum {c_enum} missing from BTF"));
            continue;
        };
        let mut c: Vec<(String, u64)> = e
            .iter()
            .map(|m| {
                (
                    m.name.unwrap().to_string_lossy().into_owned(),
                    // ABI enums are 32 bits wide, some with the top bit set.
                    m.value as u32 as u64,
                )
            })
            .collect();
        let mut r: Vec<(String, u64)> = rust.iter().map(|(n, v)| (n.to_string(), *v)).collect();
        c.sort();
        r.sort();
        if c != r {
            errors.push(format!(
                "{name}: enum {c_enum} differs\n  C:    {c:?}\n  Rust: {r:?}"
            ));
        }
    }
    errors
}

/// Every ABI constant is an enumerator, so that it reaches the BTF this
/// test reads: a `#define` in abi.h would escape the check.
#[test]
fn abi_h_defines_no_constants() {
    let abi = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../bpf/include/vigil/abi.h"),
    )
    .unwrap();
    let defines: Vec<&str> = abi
        .lines()
        .map(str::trim_start)
        .filter(|l| l.starts_with("#define"))
        .filter(|l| {
            !l.starts_with("#define VIGIL_ABI_H") && !l.starts_with("#define VIGIL_KEEP_BTF(")
        })
        .collect();
    assert!(
        defines.is_empty(),
        "abi.h defines constants the BTF check cannot see; make them enumerators: {defines:?}"
    );
}

#[test]
fn rust_mirror_matches_every_object() {
    let objs: Vec<PathBuf> = objects()
        .into_iter()
        // The capability probes carry no events.
        .filter(|p| !p.ends_with("probe.bpf.o"))
        .collect();
    assert!(
        objs.iter().any(|p| p.parent().unwrap().ends_with("x86_64"))
            && objs
                .iter()
                .any(|p| p.parent().unwrap().ends_with("aarch64")),
        "expected objects for x86_64 and aarch64 under bpf/obj, found {objs:?}"
    );
    let errors: Vec<String> = objs.iter().flat_map(check_object).collect();
    assert!(errors.is_empty(), "ABI drift:\n{}", errors.join("\n"));
}
