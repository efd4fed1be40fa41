; Function-pointer members: enum skb_drop_reason (*handler)(struct sk_buff *skb);
(field_declaration
  type: (_) @type
  declarator: (function_declarator
    declarator: (parenthesized_declarator (pointer_declarator declarator: (field_identifier) @member)))) @decl
