package actionjs

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/dop251/goja"
)

var bytesType = reflect.TypeFor[[]byte]()

// Describe renders a value as console.* prints it: strings as they are,
// Errors as "Name: message", functions as [Function: name], a Uint8Array as
// an array of numbers, other objects as JSON, everything else with JS's
// String().
func Describe(r *goja.Runtime, v goja.Value) string {
	if v == nil || goja.IsUndefined(v) {
		return "undefined"
	}
	if goja.IsNull(v) {
		return "null"
	}
	obj, ok := v.(*goja.Object)
	if !ok {
		return v.String()
	}
	if obj.ExportType() == bytesType {
		b, _ := obj.Export().([]byte)
		nums := make([]int, len(b))
		for i, x := range b {
			nums[i] = int(x)
		}
		out, _ := json.Marshal(nums)
		return string(out)
	}
	switch obj.ClassName() {
	case "Error":
		return obj.String()
	case "Function":
		return fmt.Sprintf("[Function: %s]", obj.Get("name"))
	}
	if s, ok := Stringify(r, v); ok {
		return s
	}
	return obj.String()
}

// Stringify is JSON.stringify(v); ok is false when it throws or gives
// undefined.
func Stringify(r *goja.Runtime, v goja.Value) (s string, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	stringify, isFn := goja.AssertFunction(r.Get("JSON").ToObject(r).Get("stringify"))
	if !isFn {
		return "", false
	}
	out, err := stringify(goja.Undefined(), v)
	if err != nil || goja.IsUndefined(out) {
		return "", false
	}
	return out.String(), true
}

// ParseJSON is JSON.parse(raw); empty input is undefined.
func ParseJSON(r *goja.Runtime, raw []byte) (goja.Value, error) {
	if len(raw) == 0 {
		return goja.Undefined(), nil
	}
	parse, ok := goja.AssertFunction(r.Get("JSON").ToObject(r).Get("parse"))
	if !ok {
		return nil, fmt.Errorf("JSON.parse is not a function")
	}
	return parse(goja.Undefined(), r.ToValue(string(raw)))
}

// NewError makes a JS Error object with msg.
func NewError(r *goja.Runtime, msg string) *goja.Object {
	ctor, _ := r.Get("Error").(*goja.Object)
	obj, err := r.New(ctor, r.ToValue(msg))
	if err != nil {
		return r.NewTypeError(msg)
	}
	return obj
}
