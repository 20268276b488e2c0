package pmevents

import (
	"fmt"
	"strings"
)

// describe prints an event with the attributes it carried.
func describe(e *Event) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v token=%08x", e.Kind, e.Token)
	if e.Has(AttrFamily) {
		fmt.Fprintf(&b, " family=%d", e.Family)
	}
	if e.Has(AttrLocalID) || e.Has(AttrRemoteID) {
		fmt.Fprintf(&b, " ids=%d/%d", e.LocalID, e.RemoteID)
	}
	if e.Local.IsValid() || e.Has(AttrSport) {
		fmt.Fprintf(&b, " local=%v", e.Local)
	}
	if e.Remote.IsValid() || e.Has(AttrDport) {
		fmt.Fprintf(&b, " remote=%v", e.Remote)
	}
	if e.Has(AttrBackup) {
		fmt.Fprintf(&b, " backup=%v", e.Backup)
	}
	if e.Has(AttrError) {
		fmt.Fprintf(&b, " error=%d(%v)", uint8(e.Error), e.Error)
	}
	if e.Has(AttrFlags) {
		fmt.Fprintf(&b, " flags=%#x", e.Flags)
	}
	if e.Has(AttrServerSide) {
		fmt.Fprintf(&b, " server_side=%v", e.ServerSide)
	}
	if e.Has(AttrIfIndex) {
		fmt.Fprintf(&b, " if_idx=%d", e.IfIndex)
	}
	if e.Has(AttrResetReason) || e.Has(AttrResetFlags) {
		fmt.Fprintf(&b, " reset=%d/%#x", e.ResetReason, e.ResetFlags)
	}
	fmt.Fprintf(&b, " [%v]", e.Attrs)
	return b.String()
}
