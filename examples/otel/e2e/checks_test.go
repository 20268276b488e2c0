package e2e

import (
	"context"
	"errors"
	"fmt"
)

// check is one expectation on a PromQL expression that selects one series.
type check struct {
	name string
	expr string
	want cond
}

// cond tests a value and says what it wanted.
type cond struct {
	ok   func(float64) bool
	text string
}

func eq(v float64) cond { return cond{func(x float64) bool { return x == v }, fmt.Sprintf("= %v", v)} }

func atLeast[N int | float64](v N) cond {
	return cond{func(x float64) bool { return x >= float64(v) }, fmt.Sprintf(">= %v", v)}
}

func between[N int | float64](lo, hi N) cond {
	return cond{func(x float64) bool { return x >= float64(lo) && x <= float64(hi) }, fmt.Sprintf("in [%v, %v]", lo, hi)}
}

// check runs every check and returns what failed, nil if none.
func (p *prometheus) check(ctx context.Context, checks []check) error {
	var errs []error
	for _, c := range checks {
		v, err := p.value(ctx, c.expr)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("%s: %v", c.name, err))
		case !c.want.ok(v):
			errs = append(errs, fmt.Errorf("%s: %s is %v, want %s", c.name, c.expr, v, c.want.text))
		}
	}
	return errors.Join(errs...)
}
