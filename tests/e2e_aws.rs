//! Every end-to-end scenario on the AWS stores (`VIDGEN_BACKEND=aws`): job records in
//! DynamoDB (moto) and files in S3 (s3s-fs, which checks presigned signatures and expiry),
//! both started on 127.0.0.1 by scripts/test.sh.

#[macro_use]
mod scenarios;

scenario_tests!(vidgen_tests::Store::Aws);
