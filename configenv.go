package main

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// readEnv fills c from the environment variables named by the fields' envconfig tags,
// and from the default tags for variables that are unset. It is envconfig's contract with
// two differences that deployments written for network-sniffer need:
//
//   - Booleans take the usual spellings (parseBool): network-sniffer's entrypoint tests
//     `[[ "$debug" == "true" ]]` and treats anything else as false, and the Resurface Helm
//     chart renders USAGE_LOGGERS_DISABLE from a template that can come out empty; sniffer
//     accepts true/false, yes/no, on/off, 1/0 and refuses the rest, naming the variable.
//   - A variable set to the empty string, other than a string, means its default (the
//     chart's empty USAGE_LOGGERS_DISABLE), as an unset one does.
func readEnv(c *Config) error {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("envconfig")
		if name == "" {
			continue
		}
		value, set := os.LookupEnv(name)
		if !set || (value == "" && f.Type.Kind() != reflect.String) {
			value = f.Tag.Get("default")
			if value == "" {
				continue
			}
		}
		if err := setField(v.Field(i), value); err != nil {
			return fmt.Errorf("%s=%q: %v", name, value, err)
		}
	}
	return nil
}

// setField parses value into the field by its type.
func setField(fv reflect.Value, value string) error {
	switch p := fv.Addr().Interface().(type) {
	case *string:
		*p = value
	case *bool:
		b, err := parseBool(value)
		if err != nil {
			return err
		}
		*p = b
	case *time.Duration:
		d, err := time.ParseDuration(strings.TrimSpace(value))
		if err != nil {
			return fmt.Errorf("want a duration such as 500ms, 10s or 2m")
		}
		*p = d
	case *int, *int64:
		n, err := strconv.ParseInt(strings.TrimSpace(value), 0, fv.Type().Bits())
		if err != nil {
			return fmt.Errorf("want a whole number")
		}
		fv.SetInt(n)
	default:
		panic("config field of unsupported type: " + fv.Type().String())
	}
	return nil
}

// parseBool reads the spellings of a boolean that deployment files use: true/false,
// yes/no, on/off, 1/0, t/f, y/n, in any case, with surrounding blanks ignored.
func parseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes", "on", "1", "t", "y":
		return true, nil
	case "false", "no", "off", "0", "f", "n":
		return false, nil
	}
	return false, fmt.Errorf("want true or false (yes/no, on/off and 1/0 are read too)")
}

// boolFlag is a boolean flag that reads the same spellings as the environment
// (-promisc=no), and still works bare (-q).
type boolFlag bool

func (b *boolFlag) String() string {
	if b == nil {
		return "false"
	}
	return strconv.FormatBool(bool(*b))
}

func (b *boolFlag) Set(s string) error {
	v, err := parseBool(s)
	if err != nil {
		return err
	}
	*b = boolFlag(v)
	return nil
}

func (b *boolFlag) IsBoolFlag() bool { return true }
