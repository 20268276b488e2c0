package pmconfig

import "errors"

// err joins the errors of the parts that could not be read (once each:
// the limits and the endpoints fail with the same error when the family
// cannot be reached at all).
func (c *Config) err() error {
	eps := c.EndpointsErr
	if eps == c.LimitsErr {
		eps = nil
	}
	return errors.Join(c.LimitsErr, eps, c.SysctlsErr)
}
