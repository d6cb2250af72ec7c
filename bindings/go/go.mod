module github.com/evio/evio/bindings/go

go 1.19
