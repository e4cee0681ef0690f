//! Candidate draws on the device: the host sampler's law (`DirichletSampler`: a centre chosen
//! uniformly, a concentration `kappa` log-uniform in a range, `Dirichlet(max(kappa D c, 1e-3))`)
//! repaired into the bounds and group sums as `Constraints::repair` does (Euclidean projection
//! onto the box-bounded simplex, alternating with group rescaling), redrawn until it meets the
//! trust region and KL budget as `DirichletSampler::sample_feasible` does, then turned into the
//! model's standardised features, so that a chunk of candidates is born, scored and reduced
//! without crossing the bus. Reference: the host sampler's law and rejection rate, the
//! constraints, and the host's scores of the same mixtures (`kernels` tests).
//!
//! Random numbers: one PCG-32 stream per row (`state * 747796405 + 2891336453`, output
//! permuted by PCG's RXS-M-XS), started from a hash (Wellons' `lowbias32`) of the row and the
//! chunk's 64-bit seed, so a draw depends only on `(seed, row)`: the same on every run and
//! every launch shape. Gamma variates by Marsaglia and Tsang (2000) with Box-Muller normals,
//! kept as logarithms (`alpha < 1` boosted by `U^(1/alpha)` in log space), so concentrations
//! down to 1e-3 neither underflow nor give all-zero draws.

use cubecl::prelude::*;

use super::cube_index;

/// Input transform codes (comptime), as `InputTransform`.
pub const IDENTITY: u32 = 0;
/// `sqrt(w)`.
pub const SQRT: u32 = 1;
/// `[sqrt(w), w]`.
pub const SQRT_LINEAR: u32 = 2;
/// `ln(w + eps)`.
pub const LOG: u32 = 3;

/// Most Marsaglia-Tsang proposals per variate (each is accepted with probability above 0.95;
/// after this many the variate is the distribution's mode region, `ln d`).
const GAMMA_TRIES: u32 = 16;
/// Bisection steps of the bound projection: the shift is bracketed in `[-2, 2]`, and 40 halvings
/// leave it well below f32 resolution.
const PROJECTION_STEPS: u32 = 40;
/// Draws per candidate before it counts as rejected, as on the host.
const TRIES: u32 = crate::space::sampler::TRIES as u32;
/// Most rounds of the group repair (the host's 100).
const REPAIR_ROUNDS: u32 = 100;
/// When a sum counts as one or a group as met in the repair: f32 resolution where the host's
/// f64 uses 1e-9.
const TOLERANCE: f32 = 1e-6;
/// Slack of the feasibility test on group sums, distance and KL: the host's 1e-6 plus f32
/// rounding over the domains.
const FEASIBILITY: f32 = 1e-5;

/// Wellons' `lowbias32` integer hash.
#[cube]
fn hash(x: u32) -> u32 {
    let mut h = x;
    h ^= h >> 16;
    h *= 0x7feb_352du32;
    h ^= h >> 15;
    h *= 0x846c_a68bu32;
    h ^= h >> 16;
    h
}

/// One PCG-32 step.
#[cube]
fn step(state: u32) -> u32 {
    state * 747_796_405u32 + 2_891_336_453u32
}

/// A uniform in the open interval (0, 1) from a PCG state: the RXS-M-XS output's top 24 bits.
#[cube]
fn unit<F: Float>(state: u32) -> F {
    let word = ((state >> ((state >> 28) + 4)) ^ state) * 277_803_737u32;
    let out = (word >> 22) ^ word;
    (F::cast_from(out >> 8) + F::new(0.5)) * F::new(5.960_464_5e-8)
}

/// One draw of the law into `w[at..at + d]`, from PCG state `s`: the state after it.
#[cube]
fn draw_mixture<F: Float>(
    centers: &Array<F>,
    params: &Array<F>,
    w: &mut Array<F>,
    at: usize,
    d: usize,
    center_count: u32,
    state: u32,
) -> u32 {
    let mut s = step(state);
    let mut c = u32::cast_from(unit::<F>(s) * F::cast_from(center_count));
    if c >= center_count {
        c = center_count - 1;
    }
    let c = c as usize;
    s = step(s);
    let kappa = F::exp(params[0] + unit::<F>(s) * params[1]);
    let scale = kappa * F::cast_from(d as u32);

    // Log-gamma variates, kept in `w` until normalised.
    let mut top = F::new(-3.0e38);
    for i in 0..d {
        let alpha = F::max(scale * centers[c * d + i], F::new(1e-3));
        let boost = alpha < F::new(1.0);
        let shape = select(boost, alpha + F::new(1.0), alpha);
        let dd = shape - F::new(1.0 / 3.0);
        let cc = F::new(1.0) / F::sqrt(F::new(9.0) * dd);
        let mut log_gamma = F::ln(dd);
        let mut done = false;
        for _ in 0..GAMMA_TRIES {
            if !done {
                s = step(s);
                let u1 = unit::<F>(s);
                s = step(s);
                let u2 = unit::<F>(s);
                let x =
                    F::sqrt(F::new(-2.0) * F::ln(u1)) * F::cos(F::new(std::f32::consts::TAU) * u2);
                let v = F::new(1.0) + cc * x;
                if v > F::new(0.0) {
                    let v3 = v * v * v;
                    s = step(s);
                    let u = unit::<F>(s);
                    let bound = F::new(0.5) * x * x + dd - dd * v3 + dd * F::ln(v3);
                    if F::ln(u) < bound {
                        log_gamma = F::ln(dd * v3);
                        done = true;
                    }
                }
            }
        }
        if boost {
            s = step(s);
            log_gamma += F::ln(unit::<F>(s)) / alpha;
        }
        w[at + i] = log_gamma;
        top = F::max(top, log_gamma);
    }
    let mut total = F::new(0.0);
    for i in 0..d {
        let e = F::exp(w[at + i] - top);
        w[at + i] = e;
        total += e;
    }
    for i in 0..d {
        w[at + i] = w[at + i] / total;
    }
    s
}

/// The nearest point of the box-bounded simplex (`bounds`: `[2, d]`) to `w[at..at + d]`,
/// unless it is inside already: `w_i = clamp(w_i - t, lo_i, hi_i)` with the shift `t` where
/// the sum is one (the sum falls as `t` grows), as `project_box_simplex`.
#[cube]
fn project<F: Float>(w: &mut Array<F>, at: usize, d: usize, bounds: &Array<F>) {
    let mut inside = true;
    let mut sum = F::new(0.0);
    for i in 0..d {
        let x = w[at + i];
        sum += x;
        inside = inside && x >= bounds[i] && x <= bounds[d + i];
    }
    if !inside || F::abs(sum - F::new(1.0)) > F::new(TOLERANCE) {
        let mut low = F::new(-2.0);
        let mut high = F::new(2.0);
        for _ in 0..PROJECTION_STEPS {
            let mid = F::new(0.5) * (low + high);
            let mut total = F::new(0.0);
            for i in 0..d {
                total += F::clamp(w[at + i] - mid, bounds[i], bounds[d + i]);
            }
            if total > F::new(1.0) {
                low = mid;
            } else {
                high = mid;
            }
        }
        let t = F::new(0.5) * (low + high);
        for i in 0..d {
            w[at + i] = F::clamp(w[at + i] - t, bounds[i], bounds[d + i]);
        }
    }
}

/// Over group `g` (`groups`: `[groups, d + 2]`, membership 0/1 then min and max): the sum of
/// `w[at..at + d]` inside it (`part` 0), its number of domains (1) or the sum outside it (2).
#[cube]
fn group_sum<F: Float>(
    w: &Array<F>,
    at: usize,
    d: usize,
    groups: &Array<F>,
    g: usize,
    #[comptime] part: u32,
) -> F {
    let base = g * (d + 2);
    let mut total = F::new(0.0);
    for i in 0..d {
        let m = groups[base + i];
        if comptime![part == 0] {
            total += m * w[at + i];
        } else if comptime![part == 1] {
            total += m;
        } else {
            total += (F::new(1.0) - m) * w[at + i];
        }
    }
    total
}

/// `Constraints::repair` after the box projection: each group whose sum is outside its range
/// is rescaled onto it, the other domains rescaled to keep the total at one, and the result
/// projected into the box again, for up to `REPAIR_ROUNDS` rounds while anything moves.
#[cube]
fn repair_groups<F: Float>(
    w: &mut Array<F>,
    at: usize,
    d: usize,
    bounds: &Array<F>,
    groups: &Array<F>,
    group_count: u32,
) {
    let mut moving = true;
    for _ in 0..REPAIR_ROUNDS {
        if moving {
            let mut moved = false;
            for g in 0..group_count as usize {
                let base = g * (d + 2);
                let sum = group_sum::<F>(w, at, d, groups, g, 0u32);
                let target = F::clamp(sum, groups[base + d], groups[base + d + 1]);
                if F::abs(sum - target) > F::new(TOLERANCE) {
                    moved = true;
                    let members = group_sum::<F>(w, at, d, groups, g, 1u32);
                    let others = group_sum::<F>(w, at, d, groups, g, 2u32);
                    for i in 0..d {
                        let x = w[at + i];
                        let mut y = x;
                        if groups[base + i] > F::new(0.5) {
                            if sum > F::new(0.0) {
                                y = x * target / sum;
                            } else {
                                y = target / members;
                            }
                        } else if others > F::new(0.0) {
                            y = x * (F::new(1.0) - target) / others;
                        }
                        w[at + i] = y;
                    }
                    project::<F>(w, at, d, bounds);
                }
            }
            moving = moved;
        }
    }
}

/// Whether `w[at..at + d]` meets the group sums, the trust region (`anchors`: `[anchors, d]`,
/// radius `limits[0]`, total variation) and the KL budget (`prior`: `[d]`, `limits[1]` nats),
/// each to [`FEASIBILITY`] (`Constraints::is_feasible`, in f32).
#[cube]
#[allow(clippy::too_many_arguments)]
fn feasible<F: Float>(
    w: &Array<F>,
    at: usize,
    d: usize,
    groups: &Array<F>,
    group_count: u32,
    anchors: &Array<F>,
    anchor_count: u32,
    prior: &Array<F>,
    limits: &Array<F>,
    #[comptime] trust: bool,
    #[comptime] kl: bool,
) -> bool {
    let eps = F::new(FEASIBILITY);
    let mut ok = true;
    for g in 0..group_count as usize {
        let base = g * (d + 2);
        let sum = group_sum::<F>(w, at, d, groups, g, 0u32);
        ok = ok && sum >= groups[base + d] - eps && sum <= groups[base + d + 1] + eps;
    }
    if trust {
        let mut nearest = F::new(3.0e38);
        for a in 0..anchor_count as usize {
            let mut tv = F::new(0.0);
            for i in 0..d {
                tv += F::abs(w[at + i] - anchors[a * d + i]);
            }
            nearest = F::min(nearest, F::new(0.5) * tv);
        }
        ok = ok && nearest <= limits[0] + eps;
    }
    if kl {
        let mut total = F::new(0.0);
        for i in 0..d {
            let x = w[at + i];
            if x > F::new(0.0) {
                if prior[i] > F::new(0.0) {
                    total += x * F::ln(x / prior[i]);
                } else {
                    total = F::new(3.0e38);
                }
            }
        }
        ok = ok && total <= limits[1] + eps;
    }
    ok
}

/// Draws `n` candidates and writes their mixtures, features and feasibility: each row makes
/// up to [`TRIES`] draws, each repaired into the bounds and groups, until one meets the group
/// sums, trust region and KL budget (`Constraints::repair` and `is_feasible`, as the host's
/// `DirichletSampler::sample_feasible`); `valid[row]` is 0 when none did.
///
/// * `centers`: `[centers, domains]`, each on the simplex; `params`: `[ln kappa_low,
///   ln(kappa_high / kappa_low), eps of the log transform]`.
/// * `bounds`: `[2, domains]`, lower then upper (used when `bounded`: tight bounds or groups;
///   `sum lower <= 1 <= sum upper`, checked by the host's constraint validation).
/// * `groups`: `[group_count, domains + 2]`, membership 0/1, min, max; `anchors`:
///   `[anchor_count, domains]` (used when `trust`); `prior`: `[domains]` (used when `kl`);
///   `limits`: `[trust radius, KL budget]`.
/// * `norm`: `[2, inputs]`, the input standardisation's mean then std, mixture inputs first;
///   `context`: `[contexts]` raw context values, the same for every row.
/// * `mixtures`: `[n, domains]`; `features`: `[n, inputs]`; `valid`: `[n]`.
///
/// One unit per row, any cube size, 2-D cube count numbered by `cube_index`.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn draw_candidates<F: Float>(
    centers: &Array<F>,
    params: &Array<F>,
    bounds: &Array<F>,
    groups: &Array<F>,
    anchors: &Array<F>,
    prior: &Array<F>,
    limits: &Array<F>,
    norm: &Array<F>,
    context: &Array<F>,
    mixtures: &mut Array<F>,
    features: &mut Array<F>,
    valid: &mut Array<u32>,
    n: u32,
    key_low: u32,
    key_high: u32,
    center_count: u32,
    domains: u32,
    contexts: u32,
    group_count: u32,
    anchor_count: u32,
    #[comptime] transform: u32,
    #[comptime] bounded: bool,
    #[comptime] trust: bool,
    #[comptime] kl: bool,
) {
    let row = cube_index() * (CUBE_DIM_X as usize) + UNIT_POS_X as usize;
    if row >= n as usize {
        terminate!();
    }
    let d = domains as usize;
    let at = row * d;
    let mut s = hash(hash(u32::cast_from(row) ^ key_low) ^ key_high);
    let mut accepted = false;
    for _ in 0..TRIES {
        if !accepted {
            s = draw_mixture::<F>(centers, params, mixtures, at, d, center_count, s);
            if bounded {
                project::<F>(mixtures, at, d, bounds);
                repair_groups::<F>(mixtures, at, d, bounds, groups, group_count);
            }
            accepted = feasible::<F>(
                mixtures,
                at,
                d,
                groups,
                group_count,
                anchors,
                anchor_count,
                prior,
                limits,
                trust,
                kl,
            );
        }
    }
    valid[row] = select(accepted, 1u32, 0u32);

    let per_domain = comptime![if transform == SQRT_LINEAR {
        2usize
    } else {
        1usize
    }];
    let inputs = per_domain * d + contexts as usize;
    let f = row * inputs;
    for i in 0..d {
        let w = mixtures[at + i];
        let mut x = w;
        if comptime![transform == SQRT || transform == SQRT_LINEAR] {
            x = F::sqrt(w);
        } else if comptime![transform == LOG] {
            x = F::ln(w + params[2]);
        }
        features[f + i] = (x - norm[i]) / norm[inputs + i];
        if comptime![transform == SQRT_LINEAR] {
            features[f + d + i] = (w - norm[d + i]) / norm[inputs + d + i];
        }
    }
    let first = inputs - contexts as usize;
    for j in 0..contexts as usize {
        let k = first + j;
        features[f + k] = (context[j] - norm[k]) / norm[inputs + k];
    }
}

/// Copies rows `rows` (`[count]`) of `mixtures` (`[n, domains]`) into `out`
/// (`[count, domains]`): one unit per element.
#[cube(launch_unchecked)]
pub fn gather_rows<F: Float>(
    mixtures: &Array<F>,
    rows: &Array<u32>,
    out: &mut Array<F>,
    count: u32,
    domains: u32,
) {
    let idx = cube_index() * (CUBE_DIM_X as usize) + UNIT_POS_X as usize;
    let d = domains as usize;
    if idx >= count as usize * d {
        terminate!();
    }
    let r = idx / d;
    out[idx] = mixtures[rows[r] as usize * d + idx % d];
}
