//! The GP's checkpoint: the envelope of [`crate::surrogate::checkpoint`] (kind `gp`) with the
//! fitted fields as its payload and `gp.safetensors` (layout in the module docs of
//! [`super`]); the 0.1 layout (`gp.json`) is still read.

use super::*;
use crate::surrogate::checkpoint::{FileDigest, Layout, check_digest, read_verified};

impl GaussianProcess {
    /// Writes the checkpoint (the envelope of [`crate::surrogate::checkpoint`], kind `gp`, with
    /// `gp.safetensors`) atomically; an existing `dir` is replaced only when `overwrite`
    /// allows it.
    pub fn save(&self, dir: &Path, overwrite: crate::io::Overwrite) -> Result<(), SurrogateError> {
        let payload = serde_json::to_value(self).expect("a GP serialises");
        let files = vec![(GP_SAFETENSORS.into(), self.safetensors_bytes())];
        envelope::write(dir, overwrite, SurrogateKind::Gp, payload, files)
    }

    /// The safetensors export (layout in the module docs).
    fn safetensors_bytes(&self) -> Vec<u8> {
        use safetensors::tensor::{Dtype, TensorView};
        let (n, dims) = (self.x.len(), self.input_norm.mean.len());
        let bytes = |v: &[f64]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
        let mut tensors: Vec<(String, Vec<usize>, Vec<u8>)> = vec![
            ("x".into(), vec![n, dims], bytes(&self.x.concat())),
            (
                "input_mean".into(),
                vec![dims],
                bytes(&self.input_norm.mean),
            ),
            ("input_std".into(), vec![dims], bytes(&self.input_norm.std)),
            (
                "target_mean".into(),
                vec![self.targets.len()],
                bytes(&self.target_norm.mean),
            ),
            (
                "target_std".into(),
                vec![self.targets.len()],
                bytes(&self.target_norm.std),
            ),
        ];
        for (t, g) in self.targets.iter().enumerate() {
            let scalar = |name: &str, v: f64| (format!("targets.{t}.{name}"), vec![1], bytes(&[v]));
            tensors.extend([
                (
                    format!("targets.{t}.lengthscales"),
                    vec![dims],
                    bytes(&g.lengthscales),
                ),
                (format!("targets.{t}.alpha"), vec![n], bytes(&g.alpha)),
                scalar("signal_var", g.signal_var),
                scalar("noise_var", g.noise_var),
                scalar("calibration", g.calibration),
            ]);
        }
        let views: Vec<(String, TensorView<'_>)> = tensors
            .iter()
            .map(|(name, shape, data)| {
                let view = TensorView::new(Dtype::F64, shape.clone(), data).expect("sizes agree");
                (name.clone(), view)
            })
            .collect();
        let inputs: Vec<String> = (self.schema.mixture_columns.iter())
            .chain(&self.schema.context)
            .cloned()
            .collect();
        let info: std::collections::HashMap<String, String> = [
            ("kernel", serde_json::to_string(&self.config.kernel)),
            (
                "input_transform",
                serde_json::to_string(&self.config.input_transform),
            ),
            ("inputs", serde_json::to_string(&inputs)),
            (
                "targets",
                serde_json::to_string(&self.schema.target_names()),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.expect("plain values serialise")))
        .collect();
        safetensors::tensor::serialize(views, &Some(info)).expect("f64 tensors serialise")
    }

    /// Reads the GP checkpoint in `dir` (or a 0.1 `gp.json`), refusing one that is not a
    /// consistent GP, and refactorises the kernel matrices.
    pub fn load(dir: &Path) -> Result<Self, SurrogateError> {
        GaussianProcess::from_layout(dir, envelope::open(dir)?)
    }

    /// The GP in checkpoint `dir`, already opened as `layout`.
    pub(crate) fn from_layout(dir: &Path, layout: Layout) -> Result<Self, SurrogateError> {
        match layout {
            Layout::Envelope(ck) if ck.envelope.kind == SurrogateKind::Gp => {
                // The export is not read to score, but a checkpoint is whole or refused.
                ck.file(GP_SAFETENSORS)?;
                GaussianProcess::from_payload(ck.envelope.payload.clone(), &ck.manifest())
            }
            Layout::LegacyGp => GaussianProcess::load_legacy(dir),
            _ => Err(SurrogateError::Checkpoint {
                path: dir.to_owned(),
                problem: "holds no Gaussian process".into(),
            }),
        }
    }

    /// Reads `dir/gp.json` as mixatlas 0.1 wrote it, with its digest and export.
    fn load_legacy(dir: &Path) -> Result<Self, SurrogateError> {
        let path = dir.join(GP_FILE);
        let text = crate::io::read_text(&path)?;
        let bad = |problem: String| SurrogateError::Checkpoint {
            path: path.clone(),
            problem,
        };
        let value: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        check_layout_version(&value, &path)?;
        check_digest(dir, GP_FILE, &text)?;
        let export: FileDigest = value
            .get("safetensors")
            .cloned()
            .and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| bad("no `safetensors` digest".into()))?;
        read_verified(dir, &export)?;
        GaussianProcess::from_payload(value, &path)
    }

    /// The GP whose fields are `value` (read from `path`), checked and factorised.
    fn from_payload(value: serde_json::Value, path: &Path) -> Result<Self, SurrogateError> {
        let bad = |problem: String| SurrogateError::Checkpoint {
            path: path.to_owned(),
            problem,
        };
        check_layout_version(&value, path)?;
        let mut gp: GaussianProcess =
            serde_json::from_value(value).map_err(|e| bad(e.to_string()))?;
        if gp.format != GP_FORMAT {
            return Err(bad(format!("format is `{}`, not `{GP_FORMAT}`", gp.format)));
        }
        let (n, dims) = (gp.x.len(), gp.input_norm.mean.len());
        let consistent = (2..=MAX_GP_RUNS).contains(&n)
            && gp.x.iter().all(|r| r.len() == dims)
            && gp.targets.len() == gp.schema.targets.len()
            && gp.noise.len() == gp.targets.len()
            && gp.target_norm.mean.len() == gp.targets.len()
            && gp.target_norm.std.len() == gp.targets.len()
            && gp.input_norm.std.len() == dims
            && dims
                == gp.schema.mixture_columns.len() * gp.config.input_transform.width()
                    + gp.schema.context.len()
            && (gp.targets.iter()).all(|t| t.alpha.len() == n && t.lengthscales.len() == dims)
            && (gp.target_correlation.as_ref()).is_none_or(|rho| {
                rho.len() == gp.targets.len().pow(2)
                    && rho.iter().all(|r| r.is_finite() && r.abs() <= 1.0)
            });
        if !consistent {
            return Err(bad("sizes of the fitted arrays disagree".into()));
        }
        gp.check_values(path)?;
        let mut ws = Workspace::new(n);
        super::factorise_targets(&mut gp.targets, &mut ws, gp.config.kernel, &gp.x)?;
        gp.draw_paths();
        Ok(gp)
    }

    /// Refuses a fitted value outside its domain, naming the field.
    fn check_values(&self, path: &Path) -> Result<(), SurrogateError> {
        use crate::surrogate::checkpoint::{Domain, check_domain, check_normalizer};
        check_domain(
            path,
            "noise",
            self.noise.iter().copied(),
            Domain::NonNegative,
        )?;
        check_normalizer(path, "input_norm", &self.input_norm)?;
        check_normalizer(path, "target_norm", &self.target_norm)?;
        check_domain(path, "x", self.x.iter().flatten().copied(), Domain::Finite)?;
        for (t, g) in self.targets.iter().enumerate() {
            let field = |f: &str| format!("targets[{t}].{f}");
            let positive = [g.signal_var, g.noise_var, g.calibration];
            check_domain(
                path,
                &field("lengthscales"),
                g.lengthscales.iter().copied(),
                Domain::Positive,
            )?;
            check_domain(
                path,
                &field("signal_var, noise_var, calibration"),
                positive,
                Domain::Positive,
            )?;
            check_domain(
                path,
                &field("alpha"),
                g.alpha.iter().copied(),
                Domain::Finite,
            )?;
        }
        Ok(())
    }
}
