//! A strategy: how the next runs are chosen. One type for backtests and campaigns, so the
//! strategy that wins a backtest (a `[[strategy]]` entry, less its `name`) is pasted into a
//! campaign's `[strategy]` table unchanged:
//!
//! ```toml
//! [strategy]
//! surrogate = "gp"           # ensemble (default) | gp | loglinear | auto | random
//! acquisition = "ucb"        # the acquisition function (default: propose's)
//! beta = "gp-ucb"            # UCB beta: a number or GP-UCB's schedule; delta, xi
//! batch_method = "kriging-believer"
//! min_distance = 0.05        # total variation between runs (default: 0 over a pool, 0.05 searching)
//! searchers = ["random", "cmaes"]
//! samples = 20000            # random candidates per round when searching
//! [strategy.trust_region]    # TuRBO-style, optional
//! [strategy.gp]              # each surrogate's own table: training, gp, loglinear
//! starts = 4
//! ```
//!
//! A table, not fields flattened into the enclosing config: serde's `flatten` does not combine
//! with `deny_unknown_fields`, and a misspelt field must be refused.

use serde::{Deserialize, Serialize};

use crate::acquisition::{AcquisitionKind, AcquisitionSpec, BetaSetting};
use crate::objective::ObjectiveSpec;
use crate::proposer::{
    BatchMethod, POOL_MIN_DISTANCE, ProposerConfig, SearcherKind, TrustRegionConfig,
};
use crate::surrogate::select::AutoConfig;
use crate::surrogate::{EnsembleConfig, GpConfig, LogLinearConfig, SurrogateKind, SurrogateSpec};

/// What the surrogate of a strategy is: none (uniform picks, a backtest's baseline) or a
/// surrogate kind. Written as one string: `random` or the kind's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrategyModel {
    /// No surrogate: uniform picks.
    Random,
    /// A surrogate of this kind, refitted every round.
    Surrogate(SurrogateKind),
}

impl StrategyModel {
    /// The surrogate kind, `None` for random picks.
    pub fn surrogate(self) -> Option<SurrogateKind> {
        match self {
            StrategyModel::Random => None,
            StrategyModel::Surrogate(kind) => Some(kind),
        }
    }
}

impl From<SurrogateKind> for StrategyModel {
    fn from(kind: SurrogateKind) -> Self {
        StrategyModel::Surrogate(kind)
    }
}

impl Serialize for StrategyModel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            StrategyModel::Random => s.serialize_str("random"),
            StrategyModel::Surrogate(kind) => kind.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for StrategyModel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::IntoDeserializer;
        let name = String::deserialize(d)?;
        if name == "random" {
            return Ok(StrategyModel::Random);
        }
        let kind: Result<SurrogateKind, serde::de::value::Error> =
            SurrogateKind::deserialize(name.as_str().into_deserializer());
        kind.map(StrategyModel::Surrogate)
            .map_err(|e| serde::de::Error::custom(format!("{e}, or `random`")))
    }
}

mod defaults {
    use crate::acquisition::{AcquisitionKind, AcquisitionSpec, BetaSetting};
    use crate::proposer::SearcherKind;

    pub fn surrogate() -> super::StrategyModel {
        crate::surrogate::SurrogateKind::default().into()
    }
    pub fn acquisition() -> AcquisitionKind {
        AcquisitionSpec::default().kind
    }
    pub fn beta() -> BetaSetting {
        AcquisitionSpec::default().beta.into()
    }
    pub fn delta() -> f64 {
        AcquisitionSpec::default().delta
    }
    pub fn searchers() -> Vec<SearcherKind> {
        vec![SearcherKind::Random, SearcherKind::Cmaes]
    }
    pub fn samples() -> u64 {
        20_000
    }
}

/// How the next runs are chosen. Every field defaults to what `loop` (and, but for `samples`,
/// `propose`) does by default, so an empty table is the shipped strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategySpec {
    /// The surrogate, or `random`.
    #[serde(default = "defaults::surrogate")]
    pub surrogate: StrategyModel,
    /// Acquisition function.
    #[serde(default = "defaults::acquisition")]
    pub acquisition: AcquisitionKind,
    /// UCB/LCB beta: a number or `"gp-ucb"` (GP-UCB's schedule).
    #[serde(default = "defaults::beta")]
    pub beta: BetaSetting,
    /// GP-UCB's confidence parameter delta.
    #[serde(default = "defaults::delta")]
    pub delta: f64,
    /// EI/PI margin in objective units.
    #[serde(default)]
    pub xi: f64,
    /// How a round's runs are chosen from the scored candidates (`"kriging-believer"` needs a
    /// surrogate that conditions on its picks: the GP).
    #[serde(default)]
    pub batch_method: BatchMethod,
    /// Smallest total-variation distance between runs of a round and from earlier runs; by
    /// default 0 over a pool of logged runs, [`ProposerConfig`]'s 0.05 when searching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_distance: Option<f64>,
    /// A TuRBO-style trust region around the incumbent, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_region: Option<TrustRegionConfig>,
    /// Searchers over the feasible set (ignored over a pool).
    #[serde(default = "defaults::searchers")]
    pub searchers: Vec<SearcherKind>,
    /// Random candidates per round (ignored over a pool).
    #[serde(default = "defaults::samples")]
    pub samples: u64,
    /// Ensemble training config.
    #[serde(default)]
    pub training: EnsembleConfig,
    /// Gaussian-process config.
    #[serde(default)]
    pub gp: GpConfig,
    /// Mixing-law config.
    #[serde(default)]
    pub loglinear: LogLinearConfig,
}

impl Default for StrategySpec {
    fn default() -> Self {
        toml::from_str("").expect("every field has a default")
    }
}

/// Where a strategy picks its runs from: decides the defaults that differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Among a pool of logged runs (backtests, `propose --pool`).
    Pool,
    /// Anywhere in the feasible set (campaigns, `propose`).
    Search,
}

impl StrategySpec {
    /// A strategy of uniform random picks (the backtest baseline).
    pub fn random() -> Self {
        StrategySpec {
            surrogate: StrategyModel::Random,
            ..StrategySpec::default()
        }
    }

    /// The acquisition spec the proposer gets.
    pub fn acquisition_spec(&self) -> AcquisitionSpec {
        AcquisitionSpec {
            kind: self.acquisition,
            beta: self.beta.into(),
            delta: self.delta,
            xi: self.xi,
        }
    }

    /// Every surrogate's config (`training`, `gp`, `loglinear`), as `auto` compares them.
    pub fn surrogate_configs(&self) -> AutoConfig {
        AutoConfig::of(&self.training, &self.gp, &self.loglinear)
    }

    /// The surrogate spec, `None` for random picks.
    pub fn surrogate_spec(&self) -> Option<SurrogateSpec> {
        (self.surrogate.surrogate())
            .map(|kind| SurrogateSpec::fitted(kind, &self.surrogate_configs()))
    }

    /// The minimum distance between runs in `mode`.
    pub fn min_distance(&self, mode: Mode) -> f64 {
        self.min_distance.unwrap_or(match mode {
            Mode::Pool => POOL_MIN_DISTANCE,
            Mode::Search => ProposerConfig::default().min_distance,
        })
    }

    /// The proposer config for `objective` in `mode` (the caller adds the pool, the context
    /// and the search sizes it fixes).
    pub fn proposer_config(
        &self,
        objective: &ObjectiveSpec,
        mode: Mode,
        seed: u64,
    ) -> ProposerConfig {
        ProposerConfig {
            acquisition: self.acquisition_spec(),
            objective: objective.clone(),
            searchers: self.searchers.clone(),
            samples: self.samples,
            min_distance: self.min_distance(mode),
            batch: self.batch_method,
            trust_region: self.trust_region,
            seed,
            ..ProposerConfig::default()
        }
    }

    /// Checks the fields among themselves, naming the first out of range.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(d) = self.min_distance.filter(|d| !(0.0..=1.0).contains(d)) {
            return Err(format!(
                "`min_distance` = {d} is not a total-variation distance"
            ));
        }
        if !(self.delta > 0.0 && self.delta < 1.0) {
            return Err(format!("`delta` = {} must lie in (0, 1)", self.delta));
        }
        if !self.xi.is_finite() {
            return Err(format!("`xi` = {} must be finite", self.xi));
        }
        if self.searchers.is_empty() {
            return Err("`searchers` lists no searcher".into());
        }
        if let Some(tr) = &self.trust_region {
            tr.validate().map_err(|e| e.to_string())?;
        }
        if self.surrogate != StrategyModel::Random {
            self.surrogate_configs()
                .validate()
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// A named strategy, as a backtest lists them: `name` and the [`StrategySpec`] fields side by
/// side in one `[[strategy]]` table (read by hand: `flatten` would let misspelt fields pass).
#[derive(Debug, Clone, PartialEq)]
pub struct NamedStrategy {
    /// Name in tables and file names: letters, digits, `-`, `_`, `.`.
    pub name: String,
    /// The strategy.
    pub spec: StrategySpec,
}

impl Serialize for NamedStrategy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let serde_json::Value::Object(mut fields) =
            serde_json::to_value(&self.spec).map_err(serde::ser::Error::custom)?
        else {
            unreachable!("a strategy serialises as an object")
        };
        fields.insert("name".into(), self.name.clone().into());
        fields.serialize(s)
    }
}

impl<'de> Deserialize<'de> for NamedStrategy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let serde_json::Value::Object(mut fields) = serde_json::Value::deserialize(d)? else {
            return Err(D::Error::custom("a strategy is a table"));
        };
        // JSON copies (a backtest's record of its input) write absent options as null.
        fields.retain(|_, v| !v.is_null());
        let name = match fields.remove("name") {
            Some(serde_json::Value::String(name)) => name,
            Some(other) => {
                return Err(D::Error::custom(format!(
                    "`name` = {other} is not a string"
                )));
            }
            None => return Err(D::Error::missing_field("name")),
        };
        let spec = StrategySpec::deserialize(serde_json::Value::Object(fields))
            .map_err(D::Error::custom)?;
        Ok(NamedStrategy { name, spec })
    }
}

impl NamedStrategy {
    /// Whether `self` and `other` choose runs alike over a pool (defaults resolved: a record
    /// written before `min_distance` became optional holds its pool default).
    pub fn same_as(&self, other: &NamedStrategy) -> bool {
        let resolved = |s: &NamedStrategy| {
            let mut spec = s.spec.clone();
            spec.min_distance = Some(s.spec.min_distance(Mode::Pool));
            (s.name.clone(), spec)
        };
        resolved(self) == resolved(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_strategy_is_its_name_and_a_spec_and_misspellings_are_refused() {
        let text = "name = \"gp-ucb\"\nsurrogate = \"gp\"\nacquisition = \"ucb\"\nbeta = 4.0\n";
        let named: NamedStrategy = toml::from_str(text).unwrap();
        assert_eq!(named.name, "gp-ucb");
        assert_eq!(named.spec.surrogate, SurrogateKind::Gp.into());
        let pasted: StrategySpec =
            toml::from_str("surrogate = \"gp\"\nacquisition = \"ucb\"\nbeta = 4.0\n").unwrap();
        assert_eq!(pasted, named.spec);
        let back: NamedStrategy = toml::from_str(&toml::to_string(&named).unwrap()).unwrap();
        assert_eq!(back, named);
        let err = toml::from_str::<NamedStrategy>("name = \"x\"\nacquisiton = \"ucb\"\n");
        assert!(err.unwrap_err().to_string().contains("acquisiton"));
        assert_eq!(
            StrategySpec::default().min_distance(Mode::Pool),
            POOL_MIN_DISTANCE
        );
        assert_eq!(StrategySpec::default().min_distance(Mode::Search), 0.05);
    }
}
