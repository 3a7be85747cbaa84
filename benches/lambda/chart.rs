//! The picture beside `bench/results.md`: per size of log, the latency distribution (percentile
//! against latency, log scale) of the function and the peer, warm, against the warm floor (raw
//! `UpdateItem` + the no-op round trip), and the first invocations against theirs (raw `GetItem`
//! + raw `UpdateItem` + the no-op round trip).

use std::path::Path;
use std::time::Duration;

use plotters::prelude::*;

use crate::figures::SizeFigures;
use crate::Fallible;

/// Points drawn per curve at most: enough for a smooth line, small enough for a small file.
const POINTS: usize = 300;
const FUNCTION: RGBColor = RGBColor(0x1f, 0x77, 0xb4);
const PEER: RGBColor = RGBColor(0xd6, 0x27, 0x28);
const FLOOR: RGBColor = RGBColor(0x33, 0x33, 0x33);
const FIRST_FLOOR: RGBColor = RGBColor(0x2c, 0xa0, 0x2c);

pub fn draw(path: &Path, figures: &[SizeFigures]) -> Fallible<()> {
    let width = 460 * figures.len().max(1) as u32;
    let root = SVGBackend::new(path, (width, 420)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let panels = root.split_evenly((1, figures.len().max(1)));
    for (area, f) in panels.iter().zip(figures) {
        panel(area, f).map_err(|e| format!("chart {}: {e}", f.size.workload.slug))?;
    }
    root.present()
        .map_err(|e| format!("write {}: {e}", path.display()))
}

/// `(latency ms, percentile)` of the samples, sorted, thinned to about `POINTS`.
fn cdf(samples: impl IntoIterator<Item = Duration>) -> Vec<(f64, f64)> {
    let mut ms: Vec<f64> = samples.into_iter().map(|d| d.as_secs_f64() * 1e3).collect();
    ms.sort_by(f64::total_cmp);
    let n = ms.len();
    let step = (n / POINTS).max(1);
    ms.iter()
        .enumerate()
        .filter(|(i, _)| i % step == 0 || i + 1 == n)
        .map(|(i, x)| (*x, (i + 1) as f64 * 100.0 / n as f64))
        .collect()
}

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    f: &SizeFigures,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let size = f.size;
    let noop = f.noop.p50;
    let function = cdf(size.function.iter().flat_map(|s| s.warm.iter().copied()));
    let peer = cdf(size.peer.iter().flat_map(|s| s.warm.iter().copied()));
    let floor = cdf(size.floor_update.iter().map(|u| *u + noop));
    let first_floor = cdf(size
        .floor_get
        .iter()
        .zip(&size.floor_update)
        .map(|(g, u)| *g + *u + noop));
    let firsts = |side: &[crate::measurement::Start]| cdf(side.iter().map(|s| s.first));
    let (function_first, peer_first) = (firsts(&size.function), firsts(&size.peer));

    let all = || {
        [
            &function,
            &peer,
            &floor,
            &first_floor,
            &function_first,
            &peer_first,
        ]
        .into_iter()
        .flatten()
        .map(|(x, _)| *x)
    };
    let lo = all().fold(f64::INFINITY, f64::min) * 0.8;
    let hi = all().fold(0.0, f64::max) * 1.2;

    let mut chart = ChartBuilder::on(area)
        .caption(size.workload.label(), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(45)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..100f64)?;
    chart
        .configure_mesh()
        .x_desc("latency, ms (log scale)")
        .y_desc("percentile")
        .x_label_formatter(&|x| format!("{x:.1}"))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()?;

    let lines = [
        (&function, FUNCTION, "function, warm"),
        (&peer, PEER, "Python peer, warm"),
        (&floor, FLOOR, "floor: UpdateItem + no-op"),
        (
            &first_floor,
            FIRST_FLOOR,
            "first floor: GetItem + UpdateItem + no-op",
        ),
    ];
    for (points, color, label) in lines {
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2)));
    }
    let dots = [
        (&function_first, FUNCTION, "function, first invocations"),
        (&peer_first, PEER, "peer, first invocations"),
    ];
    for (points, color, label) in dots {
        chart
            .draw_series(points.iter().map(|p| Circle::new(*p, 4, color.filled())))?
            .label(label)
            .legend(move |(x, y)| Circle::new((x + 8, y), 4, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()
}
