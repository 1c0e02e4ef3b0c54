package main

import (
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// writeChart draws a grouped bar chart of median ops/s: one group per
// workload, one bar per engine. Throughputs span three orders of magnitude,
// so the axis is logarithmic. gonum's bars grow from zero, which a log
// axis cannot show, so the bars plot log10(ops/s ÷ floor) on a linear axis
// whose ticks are labelled with the ops/s they stand for.
func writeChart(s *summary, path string) error {
	lo := math.Inf(1)
	hi := 0.0
	for _, e := range s.engines {
		for _, p := range s.phases {
			if v := s.by[e].ops[p].median; v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if hi == 0 {
		return fmt.Errorf("no throughput to draw")
	}
	floorExp := math.Floor(math.Log10(lo))
	if math.Log10(lo)-floorExp < 0.3 {
		floorExp-- // keep the lowest bar visible
	}
	ceilExp := math.Ceil(math.Log10(hi))
	if ceilExp == floorExp {
		ceilExp++
	}

	p := plot.New()
	p.Title.Text = s.title
	p.Y.Label.Text = "ops/s (log scale)"
	p.Y.Min, p.Y.Max = 0, ceilExp-floorExp+0.5 // headroom for the legend
	var ticks []plot.Tick
	for e := floorExp; e <= ceilExp; e++ {
		ticks = append(ticks, plot.Tick{Value: e - floorExp, Label: powerLabel(e)})
		for _, m := range []float64{2, 5} {
			if e < ceilExp {
				ticks = append(ticks, plot.Tick{Value: e - floorExp + math.Log10(m)})
			}
		}
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ticks)
	p.Add(plotter.NewGrid())

	w := vg.Points(9)
	for i, e := range s.engines {
		vals := make(plotter.Values, len(s.phases))
		for j, ph := range s.phases {
			if v := s.by[e].ops[ph].median; v > 0 {
				vals[j] = math.Log10(v) - floorExp
			}
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return err
		}
		bars.LineStyle.Width = 0
		bars.Color = plotutil.Color(i)
		bars.Offset = w * vg.Length(float64(i)-float64(len(s.engines)-1)/2)
		p.Add(bars)
		p.Legend.Add(e, bars)
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.NominalX(s.phases...)
	p.X.Tick.Label.Rotation = math.Pi / 6
	p.X.Tick.Label.XAlign = -0.9
	p.X.Tick.Label.YAlign = -1
	return p.Save(vg.Points(float64(110+60*len(s.phases))), 5*vg.Inch, path)
}

// powerLabel names 10^e as 1, 10, 100, 1k, ... 100M.
func powerLabel(e float64) string {
	names := []string{"1", "10", "100", "1k", "10k", "100k", "1M", "10M", "100M", "1G"}
	if i := int(e); i >= 0 && i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("1e%d", int(e))
}
