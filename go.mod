module sniffer

go 1.26.8

require (
	github.com/andybalholm/brotli v1.3.0 // indirect
	github.com/gopacket/gopacket v1.7.7 // indirect
	github.com/kelseyhightower/envconfig v1.4.0 // indirect
	github.com/klauspost/compress v1.20.4 // indirect
)
