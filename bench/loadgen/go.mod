module batteryhub/bench/loadgen

go 1.26
