"""The lean S3 client: AWS's published Signature V4 examples, and credentials found the AWS way."""

import datetime
import hashlib
import os

import pytest

from hippo.transfer.s3 import Credentials, S3Client, find_credentials, find_region

AWS_EXAMPLE_TIME = datetime.datetime(2013, 5, 24, tzinfo=datetime.timezone.utc)


@pytest.mark.parametrize("method, path, query, headers, payload, signature", [
    ("GET", "/test.txt", {}, {"range": "bytes=0-9"}, b"",
     "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
    ("PUT", "/test%24file.text", {}, {"date": "Fri, 24 May 2013 00:00:00 GMT",
                                      "x-amz-storage-class": "REDUCED_REDUNDANCY"}, b"Welcome to Amazon S3.",
     "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"),
    ("GET", "/", {"lifecycle": ""}, {}, b"", "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
    ("GET", "/", {"max-keys": "2", "prefix": "J"}, {}, b"",
     "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
])
def test_signatures_match_the_aws_documentation_examples(method, path, query, headers, payload, signature):
    # docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html: GET object, PUT object,
    # GET bucket lifecycle, GET bucket (list objects), all for examplebucket on 24 May 2013.
    client = S3Client("examplebucket", region="us-east-1", credentials=Credentials(
        "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"))
    client.host = "examplebucket.s3.amazonaws.com"  # the examples' (legacy global) endpoint
    headers = dict(headers)
    client._sign(method, path, query, headers, hashlib.sha256(payload).hexdigest(), now=AWS_EXAMPLE_TIME)
    assert headers["authorization"].endswith(f"Signature={signature}")
    assert "Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request" in headers["authorization"]


def test_credentials_and_region_from_the_shared_files_back_up_to_seaweedfs(tmp_path, s3_dest, seaweed,
                                                                           monkeypatch):
    from conftest import ACCESS_KEY, SECRET_KEY

    from hippo.transfer import backup, restore
    (tmp_path / "credentials").write_text(f"[default]\naws_access_key_id = wrong\naws_secret_access_key = x\n\n"
                                          f"[survey]\naws_access_key_id = {ACCESS_KEY}\n"
                                          f"aws_secret_access_key = {SECRET_KEY}\n")
    (tmp_path / "config").write_text("[profile survey]\nregion = eu-west-2\n")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_PROFILE", "survey")
    assert find_credentials().access_key == ACCESS_KEY and find_region() == "eu-west-2"
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha")
    assert backup(src, s3_dest, quiet=True)["objects_sent"] == 1
    restore(s3_dest, tmp_path / "out", quiet=True)
    assert (tmp_path / "out/a.txt").read_text() == "alpha"


def test_backup_to_s3_imports_neither_boto3_nor_astropy_nor_numpy(tmp_path, s3_dest, hippo_cli):
    # Start-up is most of a small backup: only what runs is imported (boto3 alone takes ~0.3 s).
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.txt").write_text("alpha")
    result = hippo_cli("backup", src, s3_dest, "--quiet", env={"PYTHONPROFILEIMPORTTIME": "1"})
    assert result.returncode == 0, result.stderr
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    assert "hippo.transfer.s3" in imported
    heavy = {name for name in imported if name.split(".")[0] in ("boto3", "botocore", "astropy", "numpy", "tqdm")}
    assert heavy == set()


@pytest.mark.parametrize("trailers", [None, False])
def test_streamed_put_is_checked_by_a_crc32_trailer_or_else_by_the_md5_etag(tmp_path, s3_dest, seaweed, trailers):
    # None: the server is asked to check an aws-chunked CRC32 trailer (SeaweedFS does); False: as
    # for a server known not to, the plain bytes are sent and the returned ETag must be their MD5.
    from hippo.transfer import open_backend
    blob = os.urandom((3 << 20) + 12345)
    (tmp_path / "cube.fits").write_bytes(blob)
    backend = open_backend(s3_dest)
    backend._trailers = trailers
    info, sha256 = backend.put_file("data/blob/cube", tmp_path / "cube.fits")
    assert sha256 == hashlib.sha256(blob).hexdigest() and info.size == len(blob)
    assert backend._trailers is (trailers is None)
    bucket, _, prefix = s3_dest[5:].partition("/")
    stored = seaweed.client().get_object(Bucket=bucket, Key=f"{prefix}/data/blob/cube")  # boto3 reads it
    assert stored["Body"].read() == blob and stored["ETag"].strip('"') == info.etag == hashlib.md5(blob).hexdigest()
