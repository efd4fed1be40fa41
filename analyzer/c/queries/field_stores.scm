; Stores into a struct member: cb->drop_reason = r, x.reason = r, ops->handler = f
(assignment_expression
  left: (field_expression field: (field_identifier) @member) @left
  right: (_) @value) @assign
