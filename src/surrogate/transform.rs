//! How mixture weights are transformed into a surrogate's inputs (shared by every kind).

use serde::{Deserialize, Serialize};

/// How mixture weights are transformed before standardisation. Written as a table with a
/// `kind` (`identity`, `sqrt`, `sqrt-linear`, `log`) and, for `log` only, `eps`; any other key
/// is refused.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "TransformTable", into = "TransformTable")]
pub enum InputTransform {
    /// `w`.
    Identity,
    /// `sqrt(w)`: spreads small weights apart.
    Sqrt,
    /// `[sqrt(w), w]`: two inputs per domain, so the network sees both the small-weight
    /// resolution of `sqrt` and the linear share.
    SqrtLinear,
    /// `ln(w + eps)`: returns diminish with more data of a domain.
    Log {
        /// Offset that keeps zero weights finite.
        eps: f64,
    },
}

/// [`InputTransform`] as written. serde's tagged enums ignore unknown keys of unit variants,
/// so the table is read as this struct and converted.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TransformTable {
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    eps: Option<f64>,
}

impl TryFrom<TransformTable> for InputTransform {
    type Error = String;
    fn try_from(t: TransformTable) -> Result<Self, String> {
        let unit = |transform: InputTransform| match t.eps {
            None => Ok(transform),
            Some(_) => Err(format!(
                "`eps` applies to the log transform, not `{}`",
                t.kind
            )),
        };
        match t.kind.as_str() {
            "identity" => unit(InputTransform::Identity),
            "sqrt" => unit(InputTransform::Sqrt),
            "sqrt-linear" => unit(InputTransform::SqrtLinear),
            "log" => t
                .eps
                .map(|eps| InputTransform::Log { eps })
                .ok_or_else(|| "the log transform needs `eps`".to_owned()),
            other => Err(format!(
                "unknown input transform `{other}`: expected identity, sqrt, sqrt-linear or log"
            )),
        }
    }
}

impl From<InputTransform> for TransformTable {
    fn from(t: InputTransform) -> Self {
        let (kind, eps) = match t {
            InputTransform::Identity => ("identity", None),
            InputTransform::Sqrt => ("sqrt", None),
            InputTransform::SqrtLinear => ("sqrt-linear", None),
            InputTransform::Log { eps } => ("log", Some(eps)),
        };
        TransformTable {
            kind: kind.into(),
            eps,
        }
    }
}

impl InputTransform {
    /// Model inputs per domain.
    pub fn width(self) -> usize {
        if self == InputTransform::SqrtLinear {
            2
        } else {
            1
        }
    }

    /// Appends the transformed mixture `w` (`[domains]`) to `out` (`width()` values per domain,
    /// all domains' first values first).
    pub fn extend(self, w: &[f64], out: &mut Vec<f64>) {
        match self {
            InputTransform::Identity => out.extend_from_slice(w),
            InputTransform::Sqrt => out.extend(w.iter().map(|x| x.sqrt())),
            InputTransform::SqrtLinear => {
                out.extend(w.iter().map(|x| x.sqrt()));
                out.extend_from_slice(w);
            }
            InputTransform::Log { eps } => out.extend(w.iter().map(|x| (x + eps).ln())),
        }
    }
}
