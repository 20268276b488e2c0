package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
)

// dashboardFile is the Grafana dashboard shipped with the repository.
const dashboardFile = "../../../dashboards/mptcpx.json"

// panelQuery is one PromQL target of a dashboard panel.
type panelQuery struct {
	Panel string
	RefID string
	Expr  string
}

// dashboardQueries reads every panel's PromQL targets, rows' nested panels
// included.
func dashboardQueries() ([]panelQuery, error) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		return nil, err
	}
	type panel struct {
		Title   string
		Targets []struct {
			RefID string
			Expr  string
		}
		Panels []json.RawMessage // a row's panels
	}
	var d struct{ Panels []json.RawMessage }
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%s: %v", dashboardFile, err)
	}
	var out []panelQuery
	var walk func([]json.RawMessage) error
	walk = func(raw []json.RawMessage) error {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				return fmt.Errorf("%s: %v", dashboardFile, err)
			}
			for _, tg := range p.Targets {
				out = append(out, panelQuery{p.Title, tg.RefID, tg.Expr})
			}
			if err := walk(p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s: no panel queries", dashboardFile)
	}
	return out, nil
}

// promQL turns a panel's expression into one Prometheus can run: Grafana's
// variables become what Grafana would put there, with rateWindow as the
// rate interval and every job selected.
func (q panelQuery) promQL(rateWindow string) string {
	return strings.NewReplacer(
		"$__rate_interval", rateWindow,
		"${__rate_interval}", rateWindow,
		`"$job"`, `".*"`,
		`"${job}"`, `".*"`,
	).Replace(q.Expr)
}

// hasData runs q and wants at least one series with a finite value.
func (p *prometheus) hasData(ctx context.Context, q panelQuery, rateWindow string) ([]sample, error) {
	expr := q.promQL(rateWindow)
	if strings.Contains(expr, "$") {
		return nil, fmt.Errorf("panel %q %s: unknown variable in %s", q.Panel, q.RefID, q.Expr)
	}
	s, err := p.query(ctx, expr)
	if err != nil {
		return nil, err
	}
	for _, x := range s {
		if !math.IsNaN(x.Value) && !math.IsInf(x.Value, 0) {
			return s, nil
		}
	}
	return nil, fmt.Errorf("panel %q %s: no data: %s gives %v", q.Panel, q.RefID, expr, s)
}
