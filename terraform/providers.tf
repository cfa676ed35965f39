provider "aws" {
  region = var.region

  # Every resource that supports tags gets these two, so teardown can prove
  # that nothing of this course (for this learner) is left behind.
  default_tags {
    tags = local.tags
  }
}
