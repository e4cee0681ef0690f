//! Limited-memory BFGS for smooth unconstrained minimisation (Nocedal & Wright, algorithm
//! 7.4/7.5), with a backtracking Armijo line search. Bounds are the caller's job: map a box to
//! the real line (see the GP's sigmoid parametrisation) so every point the search tries is
//! admissible.

/// Stopping rules.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Most iterations (each one line search).
    pub max_iterations: usize,
    /// Most objective evaluations over the whole run.
    pub max_evaluations: usize,
    /// Stop when `|g|_inf` falls below this.
    pub gradient_tolerance: f64,
    /// Stop when the last [`WINDOW`] iterations together lowered `f` by less than
    /// `tolerance * max(|f|, 1)` (one slow step alone does not stop the search).
    pub tolerance: f64,
    /// Correction pairs kept.
    pub memory: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_iterations: 200,
            max_evaluations: 400,
            gradient_tolerance: 1e-5,
            tolerance: 1e-9,
            memory: 10,
        }
    }
}

/// Iterations over which progress is measured for [`Options::tolerance`].
pub const WINDOW: usize = 5;

/// Where the search stopped.
#[derive(Debug, Clone)]
pub struct Minimum {
    /// The best point, `[dims]`.
    pub x: Vec<f64>,
    /// `f(x)`.
    pub value: f64,
    /// Iterations taken.
    pub iterations: usize,
    /// Objective evaluations taken.
    pub evaluations: usize,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minimises `f` from `x0`. `f(x, grad)` returns the value and writes the gradient; it may
/// return `None` (or a non-finite value) where the objective is undefined, and the line
/// search then steps back. Returns `None` only when `f` is undefined at `x0`.
pub fn minimize(
    mut f: impl FnMut(&[f64], &mut [f64]) -> Option<f64>,
    x0: &[f64],
    options: &Options,
) -> Option<Minimum> {
    let n = x0.len();
    let mut x = x0.to_vec();
    let mut g = vec![0.0; n];
    let mut value = f(&x, &mut g).filter(|v| v.is_finite())?;
    let mut evaluations = 1;
    let (mut s_hist, mut y_hist): (Vec<Vec<f64>>, Vec<Vec<f64>>) = (Vec::new(), Vec::new());
    let mut iterations = 0;
    let mut recent = std::collections::VecDeque::from([value]);
    let (mut x_new, mut g_new) = (vec![0.0; n], vec![0.0; n]);
    while iterations < options.max_iterations && evaluations < options.max_evaluations {
        if g.iter().all(|v| v.abs() < options.gradient_tolerance) {
            break;
        }
        // Two-loop recursion: d = -H g.
        let mut d: Vec<f64> = g.iter().map(|v| -v).collect();
        let mut rho_alpha = Vec::with_capacity(s_hist.len());
        for (s, y) in s_hist.iter().zip(&y_hist).rev() {
            let rho = 1.0 / dot(y, s);
            let a = rho * dot(s, &d);
            d.iter_mut().zip(y).for_each(|(di, yi)| *di -= a * yi);
            rho_alpha.push((rho, a));
        }
        let gamma = match (s_hist.last(), y_hist.last()) {
            (Some(s), Some(y)) => dot(s, y) / dot(y, y),
            // First step: a unit-length move, whatever the gradient's scale.
            _ => 1.0 / dot(&g, &g).sqrt().max(1e-300),
        };
        d.iter_mut().for_each(|v| *v *= gamma);
        for ((s, y), (rho, a)) in s_hist.iter().zip(&y_hist).zip(rho_alpha.into_iter().rev()) {
            let b = rho * dot(y, &d);
            d.iter_mut().zip(s).for_each(|(di, si)| *di += (a - b) * si);
        }
        let mut slope = dot(&g, &d);
        if slope >= 0.0 {
            // Not a descent direction (lost curvature): restart from steepest descent.
            s_hist.clear();
            y_hist.clear();
            let scale = 1.0 / dot(&g, &g).sqrt().max(1e-300);
            d = g.iter().map(|v| -v * scale).collect();
            slope = dot(&g, &d);
        }
        // Backtracking Armijo search.
        let mut step = 1.0;
        let mut accepted = None;
        while evaluations < options.max_evaluations && step > 1e-12 {
            x_new
                .iter_mut()
                .zip(&x)
                .zip(&d)
                .for_each(|((xn, xi), di)| *xn = xi + step * di);
            evaluations += 1;
            match f(&x_new, &mut g_new) {
                Some(v) if v.is_finite() && v <= value + 1e-4 * step * slope => {
                    accepted = Some(v);
                    break;
                }
                _ => step *= 0.5,
            }
        }
        let Some(v) = accepted else { break };
        iterations += 1;
        let s: Vec<f64> = x_new.iter().zip(&x).map(|(a, b)| a - b).collect();
        let y: Vec<f64> = g_new.iter().zip(&g).map(|(a, b)| a - b).collect();
        if dot(&s, &y) > 1e-12 * dot(&y, &y).max(1e-300) {
            if s_hist.len() == options.memory {
                s_hist.remove(0);
                y_hist.remove(0);
            }
            s_hist.push(s);
            y_hist.push(y);
        }
        std::mem::swap(&mut x, &mut x_new);
        std::mem::swap(&mut g, &mut g_new);
        value = v;
        recent.push_back(v);
        if recent.len() > WINDOW {
            let before = recent.pop_front().expect("WINDOW + 1 values");
            if before - v < options.tolerance * v.abs().max(1.0) {
                break;
            }
        }
    }
    Some(Minimum {
        x,
        value,
        iterations,
        evaluations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimises_the_rosenbrock_function() {
        let rosenbrock = |x: &[f64], g: &mut [f64]| {
            let (a, b) = (x[0], x[1]);
            g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
            g[1] = 200.0 * (b - a * a);
            Some((1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2))
        };
        let options = Options {
            max_iterations: 500,
            max_evaluations: 5000,
            tolerance: 0.0,
            ..Options::default()
        };
        let m = minimize(rosenbrock, &[-1.2, 1.0], &options).unwrap();
        assert!(
            (m.x[0] - 1.0).abs() < 1e-4 && (m.x[1] - 1.0).abs() < 1e-4,
            "{m:?}"
        );
    }

    #[test]
    fn steps_back_from_undefined_regions() {
        // ln is undefined for x <= 0; the minimum of x - 2 ln x is at 2.
        let f = |x: &[f64], g: &mut [f64]| {
            (x[0] > 0.0).then(|| {
                g[0] = 1.0 - 2.0 / x[0];
                x[0] - 2.0 * x[0].ln()
            })
        };
        let m = minimize(f, &[10.0], &Options::default()).unwrap();
        assert!((m.x[0] - 2.0).abs() < 1e-4, "{m:?}");
        assert!(minimize(f, &[-1.0], &Options::default()).is_none());
    }
}
