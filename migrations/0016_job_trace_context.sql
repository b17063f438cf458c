-- The W3C trace context (`traceparent`) of the request that enqueued a job, carried to its
-- follow-up jobs, so that the processor's spans of a video join the trace of its upload.
-- Null when traces are off or nothing traced the enqueue.
alter table jobs add column trace_context text;
