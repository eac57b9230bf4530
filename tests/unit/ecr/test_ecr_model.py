"""Look-ups into botocore's ECR service model."""

from __future__ import annotations

import pytest

from dockyard.api.ecr import model


def test_model_is_loaded_once() -> None:
    assert model.service_model() is model.service_model()


def test_operation_names() -> None:
    names = model.operation_names()
    assert {"DescribeImages", "BatchGetImage", "PutImage", "GetAuthorizationToken"} <= names
    assert model.has_operation("DescribeImages")
    assert not model.has_operation("describeImages")


def test_input_and_output_shapes() -> None:
    assert model.input_shape_name("DescribeImages") == "DescribeImagesRequest"
    assert model.output_shape_name("DescribeImages") == "DescribeImagesResponse"
    assert model.shape("DescribeImagesRequest")["required"] == ["repositoryName"]


def test_every_operation_has_input_and_output_shapes_that_exist() -> None:
    names = model.shape_names()
    for op in model.operation_names():
        assert model.input_shape_name(op) in names
        assert model.output_shape_name(op) in names


def test_error_shapes() -> None:
    assert model.error_shape_names("DescribeImages") == {
        "ServerException",
        "InvalidParameterException",
        "RepositoryNotFoundException",
        "ImageNotFoundException",
    }
    for op in model.operation_names():
        for name in model.error_shape_names(op):
            assert model.shape(name).get("exception") is True


def test_unknown_names_are_key_errors() -> None:
    with pytest.raises(KeyError):
        model.shape("NoSuchShape")
    with pytest.raises(KeyError):
        model.input_shape_name("NoSuchOperation")


def test_protocol_metadata() -> None:
    assert model.target_prefix() == "AmazonEC2ContainerRegistry_V20150921"
    assert model.signing_name() == "ecr"
