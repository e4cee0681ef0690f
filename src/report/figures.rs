//! The figures, drawn with plotters into SVG strings. Colours: the Okabe-Ito palette for
//! categories and a viridis ramp for values, both readable with colour-vision deficiencies.

use plotters::coord::Shift;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{CampaignPlots, Heatmap, Parity, PdPanel, Projection, RecipeBar};
use crate::evaluation::backtest::Summary;

/// Okabe & Ito (2008) colour-blind-safe palette, black last.
pub const PALETTE: [RGBColor; 8] = [
    RGBColor(0, 114, 178),
    RGBColor(230, 159, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(86, 180, 233),
    RGBColor(213, 94, 0),
    RGBColor(240, 228, 66),
    RGBColor(0, 0, 0),
];

/// Viridis at `t` in [0, 1], interpolated between five anchors.
pub fn viridis(t: f64) -> RGBColor {
    const A: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    } * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f64;
    let mix = |a: f64, b: f64| (a + (b - a) * f).round() as u8;
    RGBColor(
        mix(A[i].0, A[i + 1].0),
        mix(A[i].1, A[i + 1].1),
        mix(A[i].2, A[i + 1].2),
    )
}

type Draw = Result<String, String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    format!("drawing failed: {e}")
}

/// `(min, max)` of `v` padded by 5% (a unit range around a constant).
fn range(v: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = v
        .filter(|x| x.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
            (a.min(x), b.max(x))
        });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.5 };
    (lo - pad, hi + pad)
}

const FONT: &str = "sans-serif";

type Chart<'a> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A titled Cartesian chart on `root` with labelled axes.
fn chart<'a>(
    root: &DrawingArea<SVGBackend<'a>, Shift>,
    caption: &str,
    caption_size: u32,
    (x, y): (std::ops::Range<f64>, std::ops::Range<f64>),
    (x_desc, y_desc): (&str, &str),
) -> Result<Chart<'a>, String> {
    let mut chart = ChartBuilder::on(root)
        .caption(caption, (FONT, caption_size))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .label_style((FONT, 14))
        .draw()
        .map_err(err)?;
    Ok(chart)
}

/// The series legend at `position`.
fn legend(chart: &mut Chart<'_>, position: SeriesLabelPosition) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .draw()
        .map_err(err)
}

/// Predicted vs observed, 90% error bars, the identity line.
pub fn parity(p: &Parity) -> Draw {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let all = p.observed.iter().chain(&p.predicted).copied();
        let (lo, hi) = range(
            all.chain(
                p.predicted
                    .iter()
                    .zip(&p.std)
                    .flat_map(|(m, s)| [m - 1.645 * s, m + 1.645 * s]),
            ),
        );
        let mut chart = chart(
            &root,
            &format!("Parity: {} (out-of-fold, 90% intervals)", p.target),
            20,
            (lo..hi, lo..hi),
            (
                &format!("observed {}", p.target),
                &format!("predicted {}", p.target),
            ),
        )?;
        chart
            .draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.stroke_width(1)))
            .map_err(err)?
            .label("y = x")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));
        chart
            .draw_series(
                p.observed
                    .iter()
                    .zip(&p.predicted)
                    .zip(&p.std)
                    .map(|((&o, &m), &s)| {
                        ErrorBar::new_vertical(
                            o,
                            m - 1.645 * s,
                            m,
                            m + 1.645 * s,
                            PALETTE[4].stroke_width(1),
                            4,
                        )
                    }),
            )
            .map_err(err)?;
        chart
            .draw_series(
                p.observed
                    .iter()
                    .zip(&p.predicted)
                    .map(|(&o, &m)| Circle::new((o, m), 3, PALETTE[0].filled())),
            )
            .map_err(err)?
            .label("run (mean ± 1.645 total std)")
            .legend(|(x, y)| Circle::new((x + 10, y), 3, PALETTE[0].filled()));
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Empirical vs nominal coverage of central predictive intervals.
pub fn calibration(points: &[(f64, f64)], target: &str) -> Draw {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let mut chart = chart(
            &root,
            &format!("Calibration: {target}"),
            20,
            (0.0..1.0, 0.0..1.0),
            (
                "nominal coverage of the central interval",
                "empirical coverage (out-of-fold)",
            ),
        )?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, 0.0), (1.0, 1.0)],
                BLACK.stroke_width(1),
            ))
            .map_err(err)?
            .label("perfect calibration")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLACK));
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                PALETTE[5].stroke_width(2),
            ))
            .map_err(err)?
            .label("mixatlas")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], PALETTE[5].stroke_width(2)));
        chart
            .draw_series(
                points
                    .iter()
                    .map(|&p| Circle::new(p, 3, PALETTE[5].filled())),
            )
            .map_err(err)?;
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Small multiples: the target's mean ± epistemic std as one domain's share moves.
pub fn partial_dependence(panels: &[PdPanel], target: &str) -> Draw {
    let cols = 4usize.min(panels.len()).max(1);
    let rows = panels.len().div_ceil(cols);
    let (w, h) = (300u32, 240u32);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (w * cols as u32, h * rows as u32 + 40))
            .into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (title, body) = root.split_vertically(40);
        title
            .draw_text(
                &format!("Partial dependence of {target}: mean ± epistemic std (others rescaled)"),
                &TextStyle::from((FONT, 18).into_font()).pos(Pos::new(HPos::Center, VPos::Center)),
                ((w * cols as u32 / 2) as i32, 20),
            )
            .map_err(err)?;
        let (ylo, yhi) = range(panels.iter().flat_map(|p| {
            p.mean
                .iter()
                .zip(&p.std)
                .flat_map(|(m, s)| [m - s, m + s])
                .collect::<Vec<_>>()
        }));
        for (area, p) in body.split_evenly((rows, cols)).iter().zip(panels) {
            let xmax = p.shares.last().copied().unwrap_or(1.0).max(1e-6);
            let mut chart = ChartBuilder::on(area)
                .caption(&p.domain, (FONT, 14))
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(45)
                .build_cartesian_2d(0.0..xmax, ylo..yhi)
                .map_err(err)?;
            chart
                .configure_mesh()
                .x_desc("share")
                .x_labels(4)
                .y_labels(5)
                .label_style((FONT, 11))
                .draw()
                .map_err(err)?;
            let upper = p
                .shares
                .iter()
                .zip(p.mean.iter().zip(&p.std))
                .map(|(&x, (m, s))| (x, m + s));
            let lower = p
                .shares
                .iter()
                .zip(p.mean.iter().zip(&p.std))
                .rev()
                .map(|(&x, (m, s))| (x, m - s));
            chart
                .draw_series(std::iter::once(Polygon::new(
                    upper.chain(lower).collect::<Vec<_>>(),
                    PALETTE[4].mix(0.35).filled(),
                )))
                .map_err(err)?;
            chart
                .draw_series(LineSeries::new(
                    p.shares.iter().copied().zip(p.mean.iter().copied()),
                    PALETTE[0].stroke_width(2),
                ))
                .map_err(err)?;
            if let Some(b) = p.base_share {
                chart
                    .draw_series(LineSeries::new(
                        [(b, ylo), (b, yhi)],
                        BLACK.mix(0.5).stroke_width(1),
                    ))
                    .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A heatmap of shares with the value written in every cell.
pub fn heatmap(h: &Heatmap) -> Draw {
    let (nr, nc) = (h.rows.len(), h.cols.len());
    let cell = 56u32;
    let (left, top) = (170u32, 90u32);
    let width = left + cell * nc as u32 + 30;
    let height = top + cell * nr as u32 + 30;
    let max = h
        .values
        .iter()
        .flatten()
        .copied()
        .fold(0.0, f64::max)
        .max(1e-12);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width.max(420), height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let centre =
            |s| TextStyle::from((FONT, s).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
        root.draw_text(&h.title, &TextStyle::from((FONT, 18).into_font()), (10, 10))
            .map_err(err)?;
        root.draw_text(
            &format!("columns: {}; rows: {}", h.col_axis, h.row_axis),
            &TextStyle::from((FONT, 13).into_font()),
            (10, 34),
        )
        .map_err(err)?;
        for (c, name) in h.cols.iter().enumerate() {
            let x = (left + cell * c as u32 + cell / 2) as i32;
            let label: String = name.chars().take(9).collect();
            root.draw_text(&label, &centre(12), (x, (top - 14) as i32))
                .map_err(err)?;
        }
        for (r, name) in h.rows.iter().enumerate() {
            let y = (top + cell * r as u32 + cell / 2) as i32;
            let label: String = name.chars().take(22).collect();
            root.draw_text(
                &label,
                &TextStyle::from((FONT, 12).into_font()).pos(Pos::new(HPos::Right, VPos::Center)),
                ((left - 8) as i32, y),
            )
            .map_err(err)?;
            for c in 0..nc {
                let v = h.values[r][c];
                let (x0, y0) = (
                    (left + cell * c as u32) as i32,
                    (top + cell * r as u32) as i32,
                );
                let colour = viridis(v / max);
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cell as i32 - 2, y0 + cell as i32 - 2)],
                    colour.filled(),
                ))
                .map_err(err)?;
                let ink = if v / max > 0.6 { BLACK } else { WHITE };
                root.draw_text(
                    &format!("{v:.2}"),
                    &centre(12).color(&ink),
                    (x0 + cell as i32 / 2, y0 + cell as i32 / 2),
                )
                .map_err(err)?;
            }
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Horizontal stacked bars of the top recipes' domain shares, with their predictions.
pub fn recipes(bars: &[RecipeBar], target: &str) -> Draw {
    // Colour the domains with the largest total share; the rest are "other".
    let domains: Vec<String> = bars
        .first()
        .map(|b| b.weights.iter().map(|w| w.0.clone()).collect())
        .unwrap_or_default();
    let mut totals: Vec<(usize, f64)> = (0..domains.len())
        .map(|j| (j, bars.iter().map(|b| b.weights[j].1).sum()))
        .collect();
    totals.sort_by(|a, b| b.1.total_cmp(&a.1));
    let coloured: Vec<usize> = totals.iter().take(7).map(|t| t.0).collect();
    let (left, top, bar_h) = (150i32, 60i32, 34i32);
    let (width, plot_w) = (900u32, 480i32);
    let height =
        (top + bar_h * bars.len() as i32 + 40 + 22 * (coloured.len() as i32 + 1) / 2) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (width, height.max(200))).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let text = |s| TextStyle::from((FONT, s).into_font());
        root.draw_text(
            &format!("Top recipes: domain shares, predicted {target} (mean ± epistemic std)"),
            &text(18),
            (10, 10),
        )
        .map_err(err)?;
        for (i, b) in bars.iter().enumerate() {
            let y = top + bar_h * i as i32;
            root.draw_text(
                &b.name,
                &text(13).pos(Pos::new(HPos::Right, VPos::Center)),
                (left - 8, y + bar_h / 2 - 2),
            )
            .map_err(err)?;
            let mut x = left as f64;
            let mut other = 0.0;
            for (j, (_, w)) in b.weights.iter().enumerate() {
                match coloured.iter().position(|&c| c == j) {
                    Some(k) => {
                        let x1 = x + w * plot_w as f64;
                        root.draw(&Rectangle::new(
                            [(x as i32, y), (x1 as i32, y + bar_h - 6)],
                            PALETTE[k].filled(),
                        ))
                        .map_err(err)?;
                        x = x1;
                    }
                    None => other += w,
                }
            }
            let x1 = x + other * plot_w as f64;
            root.draw(&Rectangle::new(
                [(x as i32, y), (x1 as i32, y + bar_h - 6)],
                RGBColor(190, 190, 190).filled(),
            ))
            .map_err(err)?;
            root.draw_text(
                &format!("{:.4} ± {:.4}", b.mean, b.std),
                &text(13).pos(Pos::new(HPos::Left, VPos::Center)),
                (left + plot_w + 12, y + bar_h / 2 - 2),
            )
            .map_err(err)?;
        }
        let legend_top = top + bar_h * bars.len() as i32 + 14;
        let entries: Vec<(String, RGBColor)> = coloured
            .iter()
            .enumerate()
            .map(|(k, &j)| (domains[j].clone(), PALETTE[k]))
            .chain(std::iter::once((
                "other domains".to_owned(),
                RGBColor(190, 190, 190),
            )))
            .collect();
        for (k, (name, colour)) in entries.iter().enumerate() {
            let (x, y) = (10 + 300 * (k as i32 % 3), legend_top + 22 * (k as i32 / 3));
            root.draw(&Rectangle::new([(x, y), (x + 14, y + 14)], colour.filled()))
                .map_err(err)?;
            root.draw_text(name, &text(13), (x + 20, y)).map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Logged runs and recipes on the first two principal components of the mixtures.
pub fn projection(p: &Projection) -> Draw {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (700, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (xlo, xhi) = range(
            p.logged
                .iter()
                .map(|a| a.0)
                .chain(p.recipes.iter().map(|a| a.0)),
        );
        let (ylo, yhi) = range(
            p.logged
                .iter()
                .map(|a| a.1)
                .chain(p.recipes.iter().map(|a| a.1)),
        );
        let (vlo, vhi) = p
            .recipes
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), r| {
                (a.min(r.2), b.max(r.2))
            });
        let norm = |v: f64| {
            if vhi > vlo {
                (v - vlo) / (vhi - vlo)
            } else {
                0.5
            }
        };
        let mut chart = chart(
            &root,
            &format!(
                "Recipes vs logged runs (PCA of mixtures, {:.0}% of variance)",
                100.0 * p.explained
            ),
            18,
            (xlo..xhi, ylo..yhi),
            ("principal component 1", "principal component 2"),
        )?;
        chart
            .draw_series(
                p.logged
                    .iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, RGBColor(150, 150, 150).filled())),
            )
            .map_err(err)?
            .label("logged run")
            .legend(|(x, y)| Circle::new((x + 10, y), 3, RGBColor(150, 150, 150).filled()));
        chart
            .draw_series(p.recipes.iter().map(|&(x, y, v)| {
                EmptyElement::at((x, y))
                    + Circle::new((0, 0), 7, viridis(norm(v)).filled())
                    + Circle::new((0, 0), 7, BLACK.stroke_width(1))
            }))
            .map_err(err)?
            .label(format!(
                "recipe, coloured by predicted {} ({vlo:.3} dark .. {vhi:.3} bright)",
                p.value_label
            ))
            .legend(|(x, y)| Circle::new((x + 10, y), 6, viridis(0.7).filled()));
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Best-so-far against runs spent.
pub fn best_so_far(c: &CampaignPlots) -> Draw {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let n = c.best_so_far.len() as f64;
        let (lo, hi) = range(
            c.best_so_far
                .iter()
                .copied()
                .chain(c.each_run.iter().copied()),
        );
        let mut chart = chart(
            &root,
            "Campaign: best so far",
            20,
            (0.0..n + 1.0, lo..hi),
            ("runs spent", &c.value_label),
        )?;
        chart
            .draw_series(
                c.each_run
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| Circle::new(((i + 1) as f64, v), 3, PALETTE[4].filled())),
            )
            .map_err(err)?
            .label("run")
            .legend(|(x, y)| Circle::new((x + 10, y), 3, PALETTE[4].filled()));
        chart
            .draw_series(LineSeries::new(
                c.best_so_far
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| ((i + 1) as f64, v)),
                PALETTE[5].stroke_width(2),
            ))
            .map_err(err)?
            .label("best so far")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], PALETTE[5].stroke_width(2)));
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Mean epistemic std of each round's proposals, per target.
pub fn uncertainty_by_round(c: &CampaignPlots) -> Draw {
    let rounds = &c.epistemic_by_round;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 460)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let rmax = rounds.iter().map(|r| r.0).max().unwrap_or(0) as f64;
        let (_, hi) = range(rounds.iter().flat_map(|r| r.1.iter().copied()));
        let mut chart = chart(
            &root,
            "Campaign: epistemic uncertainty of each round's proposals",
            18,
            (-0.5..rmax + 0.5, 0.0..hi),
            ("round", "mean epistemic std (target units)"),
        )?;
        for (t, name) in c.targets.iter().enumerate() {
            let colour = PALETTE[t % PALETTE.len()];
            let pts: Vec<(f64, f64)> = rounds.iter().map(|r| (r.0 as f64, r.1[t])).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2))
                });
            chart
                .draw_series(pts.into_iter().map(|p| Circle::new(p, 3, colour.filled())))
                .map_err(err)?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A backtest's regret against runs revealed: per strategy the median over seeds with a
/// quartile band, and uniform random's exact median dashed.
pub fn backtest(s: &Summary) -> Draw {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 500)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let curves = (s.strategies.iter())
            .map(|st| (st.strategy.as_str(), &st.curve))
            .chain([("random (exact)", &s.exact_random.curve)]);
        let (_, hi) = range(
            curves
                .clone()
                .flat_map(|(_, c)| c.iter().map(|p| p.regret.q3)),
        );
        let budget = s.config.budget as f64;
        let mut chart = chart(
            &root,
            &format!("Backtest on {} runs: regret by runs revealed", s.pool),
            20,
            (0.0..budget + 2.0, 0.0..hi.max(1e-9)),
            ("runs revealed", "regret (median, quartiles)"),
        )?;
        for (k, (name, curve)) in curves.enumerate() {
            let exact = k == s.strategies.len();
            let color = if exact { PALETTE[7] } else { PALETTE[k % 7] };
            let point =
                |p: &crate::evaluation::backtest::summary::CurvePoint, v: f64| (p.runs as f64, v);
            if !exact {
                let band: Vec<(f64, f64)> = (curve.iter().map(|p| point(p, p.regret.q3)))
                    .chain(curve.iter().rev().map(|p| point(p, p.regret.q1)))
                    .collect();
                chart
                    .draw_series([Polygon::new(band, color.mix(0.15).filled())])
                    .map_err(err)?;
            }
            let line: Vec<(f64, f64)> = curve.iter().map(|p| point(p, p.regret.median)).collect();
            let style = color.stroke_width(if exact { 1 } else { 2 });
            let series = if exact {
                chart.draw_series(DashedLineSeries::new(line, 6, 4, style))
            } else {
                chart.draw_series(LineSeries::new(line, style))
            };
            series
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], style));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}
