# The two commands a new user needs (see README.md).
.PHONY: demo test kafka-start kafka-stop

demo:            ## Start Kafka, the tracker and the load generator; print what happened.
	scripts/demo.sh

test:            ## Everything the tests need, then all tests (what CI runs).
	scripts/test.sh

kafka-start:
	scripts/kafka.sh start

kafka-stop:
	scripts/kafka.sh stop
