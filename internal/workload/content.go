//go:build linux

package workload

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
)

// document is a JSON list of n made-up users with the personal data the default rules mask
// (e-mail addresses, runs of digits): 2 users make ~0.2 KB, 150 ~16 KB, 600 ~64 KB.
func document(n int) []byte {
	type user struct {
		ID    int     `json:"id"`
		Name  string  `json:"name"`
		Email string  `json:"email"`
		SSN   string  `json:"ssn"`
		Score float64 `json:"score"`
	}
	rng := rand.New(rand.NewPCG(7, uint64(n)))
	items := make([]user, n)
	for i := range items {
		items[i] = user{ID: i, Name: fmt.Sprintf("user%05d", i), Email: fmt.Sprintf("user%05d@example.com", i),
			SSN: fmt.Sprintf("%03d-%02d-%04d", i%900, i%90, i), Score: rng.Float64()}
	}
	b, err := json.Marshal(map[string]any{"items": items})
	if err != nil {
		panic(err) // cannot happen: plain structs
	}
	return b
}

// nginxConf serves dir/www on ServerAddr:Port and logs every call it served in the fields the
// checks read (scripts/callset), its request id also sent back in X-Request-Id.
func nginxConf(dir string) string {
	return fmt.Sprintf(`user root;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 2048; }
http {
  log_format calls '$request_method $request_uri $status $bytes_sent $request_length $connection $connection_requests $request_id $remote_port';
  access_log %[1]s/access.log calls;
  client_body_temp_path %[1]s/tmp;
  proxy_temp_path %[1]s/tmp; fastcgi_temp_path %[1]s/tmp; uwsgi_temp_path %[1]s/tmp; scgi_temp_path %[1]s/tmp;
  default_type application/json;
  keepalive_requests 100000;
  server {
    listen %[2]s:%[3]d;
    root %[1]s/www;
    add_header X-Request-Id $request_id always;
    location = /large.json { gzip on; gzip_types application/json; gzip_min_length 0; }
    location = /users { client_body_buffer_size 64k; return 201 '{"created":true}'; }
  }
}
`, dir, ServerAddr, Port)
}

// mixLua is wrk's request mix: five kinds of calls in turn on every connection.
const mixLua = `local n = 0
local body = '{"name":"alice","email":"alice@example.com","password":"hunter2","card":"4111111111111111"}'
request = function()
  n = n + 1
  local k = n % 5
  if k == 0 then return wrk.format("GET", "/small.json?page=" .. n, {["Authorization"] = "Bearer secret-token-" .. n}) end
  if k == 1 then return wrk.format("GET", "/medium.json") end
  if k == 2 then return wrk.format("GET", "/large.json", {["Accept-Encoding"] = "gzip"}) end
  if k == 3 then return wrk.format("POST", "/users", {["Content-Type"] = "application/json"}, body) end
  return wrk.format("GET", "/missing/" .. n)
end
`
